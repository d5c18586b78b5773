"""An installation of the previous main (plant data inside training and predictions) migrates
to plant without losing anything, on the current database (SQLite, or MongoDB in its pass).

The previous main's code (`git archive`) fills a database through its own commands, the
current code migrates that same database (and storage), then finds every row again and works
on it.
"""

import json
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from crossline.groups import QUALITY_LEAD
from tests.crossline.test_groups import QUALITY_LEAD_PERMISSIONS
from tests.support.live_server import ROOT, instance_environment

# The last commit before plant: datasets, vehicles and records in training, fail-group names
# and indicated tests in predictions.
PREVIOUS_MAIN = "4afb010"
KNRS = 160

# Run by both codes: each model found in whichever app holds it. `snapshot()` is every row
# this test follows, as JSON data.
SNAPSHOT = r"""
import json
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType

def model(name, *labels):
    for label in labels:
        try:
            return apps.get_model(label, name)
        except LookupError:
            pass

def plain(values):
    return sorted(json.loads(json.dumps(list(values), default=str)))

def rows(model, *fields):
    return plain(model.objects.values_list(*fields))

def record_rows(columns, text):
    # Row by row before plant 0004, by column (times in ms) after: compared as rows, times in ms.
    from datetime import datetime, timedelta
    data = json.loads(text)
    if isinstance(data, dict):
        return [list(row) for row in zip(*(data[name] for name in columns))]
    at = columns.index("DATA") if "DATA" in columns else None
    for row in data:
        if at is not None and row[at] is not None:
            row[at] = (datetime.fromisoformat(row[at]) - datetime(1970, 1, 1)) // timedelta(
                milliseconds=1)
    return data

def content_type(pk):
    found = ContentType.objects.get_for_id(pk)
    return [found.app_label, found.model]

def snapshot():
    Dataset = model("Dataset", "plant", "training")
    Vehicle = model("Vehicle", "plant", "training")
    VehicleRecord = model("VehicleRecord", "plant", "training")
    ModelVersion = model("ModelVersion", "mlmodels")
    FailGroup = model("FailGroup", "plant")
    if FailGroup is not None:
        groups = FailGroup.objects.values_list("pk", "code", "name", "inspections")
    else:
        groups = model("IndicatedTest", "predictions").objects.values_list(
            "pk", "fail_group", "zone", "inspections")
    # Related names are looked up here, not across joins: mongoeco answers fields projected
    # across a join wrongly (see mlmodels.services).
    names = dict(ModelVersion.objects.values_list("pk", "model_name"))
    active = model("ActiveModel", "mlmodels").objects.values_list(
        "type_model", "version_id", "generation")
    activations = model("Activation", "mlmodels").objects.values_list(
        "type_model", "sequence", "version_id", "previous_version_id", "override", "reason")
    return {
        "datasets": rows(Dataset, "pk", "kind", "sha256", "content_sha256", "status",
                         "rows_accepted", "knr_count", "file", "report", "uploaded_at"),
        "records": plain(
            (*fields, columns, record_rows(columns, text))
            for *fields, columns, text in VehicleRecord.objects.values_list(
                "pk", "knr", "dataset_id", "kind", "row_count", "nok_count", "columns",
                "rows_json")
        ),
        "vehicles": rows(Vehicle, "pk", "knr", "test_count", "nok_count", "defect_count",
                         "fail_group_codes", "dataset_ids", "first_test_at"),
        "predictions": rows(model("Prediction", "predictions"), "pk", "knr", "p_fail",
                            "flagged_by", "predicted_fail_codes", "indicated_tests",
                            "model_versions"),
        "history": rows(model("PredictionHistory", "predictions"), "pk", "knr", "p_fail",
                        "model_versions", "created_at"),
        "versions": rows(ModelVersion, "pk", "model_name", "artifact_sha256", "threshold",
                         "threshold_policy", "eligible", "training_run_id"),
        "active": plain((kind, names[pk], generation) for kind, pk, generation in active),
        "activations": plain(
            (kind, sequence, names[pk], names.get(previous), override, reason)
            for kind, sequence, pk, previous, override, reason in activations
        ),
        "policies": rows(model("ThresholdPolicy", "mlmodels"), "type_model", "policy", "value"),
        "runs": rows(model("TrainingRun", "training"), "pk", "kind", "status", "dataset_ids"),
        "fail_groups": plain(groups),
        "group_permissions": plain(
            (group.name, content_type(permission.content_type_id)[0], permission.codename)
            for group in Group.objects.all() for permission in group.permissions.all()
        ),
        "log_entries": plain(
            (*content_type(entry.content_type_id), entry.object_id, entry.object_repr)
            for entry in LogEntry.objects.all()
        ),
    }
"""
PRINT_SNAPSHOT = "\nprint(json.dumps(snapshot()))"

# Run by the previous code only: what the quality team did in its admin, by hand.
TEAM_EDITS = r"""
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from mlmodels.services import set_threshold_policy
from predictions.models import IndicatedTest
from training.models import Dataset

IndicatedTest.objects.filter(fail_group=4).update(
    zone="Doors and hatches", inspections=["Door water test", "Hinge torque check"])
IndicatedTest.objects.filter(fail_group=137).delete()
IndicatedTest.objects.create(fail_group=77, zone="Roof", inspections=["Roof leak test"])
set_threshold_policy(type_model="fail", policy="capacity", value=0.3)
quality = Group.objects.create(name="quality")
quality.permissions.set(Permission.objects.filter(
    codename__in=["change_indicatedtest", "view_dataset", "view_vehicle"]))
admin = User.objects.create_superuser("admin", "", "a-long-test-password")
dataset = Dataset.objects.first()
LogEntry.objects.create(user=admin, content_type=ContentType.objects.get_for_model(Dataset),
                        object_id=str(dataset.pk), object_repr=str(dataset), action_flag=CHANGE)
"""


def previous_main(folder: Path) -> Path:
    """The previous main's files, extracted from git."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_MAIN],
        capture_output=True, check=False,
    )
    if archive.returncode != 0 and not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the previous main's code is not at hand")
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


class Code:
    """One version of crossline on the test's own database and storage; each process costs
    seconds of start-up, so commands run together, through `call_command`, in one shell."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=1200, check=False,
        )
        assert done.returncode == 0, f"{self.root.name}: manage.py {args[0]}\n{done.stderr}"
        return done.stdout

    def run(self, *commands: list[str], then: str = "") -> dict:
        """Run these management commands in order, then `then` (code printing a JSON line);
        return that JSON."""
        script = "\n".join(
            [
                "import io",
                "from django.core.management import call_command",
                *(f"call_command(*{args!r}, stdout=io.StringIO())" for args in commands),
                then or "print('{}')",
            ]
        )
        return json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])


@pytest.mark.live
@pytest.mark.slow
def test_an_installation_of_the_previous_main_keeps_everything_after_migrating(tmp_path):
    env = instance_environment(tmp_path / "var")  # on MongoDB: a database of its own
    env.pop("PYTHONPATH", None)  # each code imports its own modules
    env.update(CROSSLINE_MIN_POSITIVES="5", CROSSLINE_GATE_MIN_POSITIVES="5")
    old = Code(previous_main(tmp_path / "previous"), env)
    new = Code(ROOT, env)
    demo, later = tmp_path / "demo", tmp_path / "later"
    knrs = ["2024-2000001", "2024-2000004"]

    old.manage("migrate", "--noinput")
    before = old.run(
        ["generate_demo_data", "--knrs", str(KNRS), "--out", str(demo)],
        ["import_data", "--results", str(demo / "results.csv.gz"),
         "--defects", str(demo / "defects.csv"), "--no-progress"],
        ["train", "--wait"],
        ["retrain", "--wait"],
        ["set_active_model", "fail-v2", "--override", "--reason", "kept across the upgrade"],
        ["predict", "--knr", *knrs],
        ["predict", "--knr", knrs[0]],  # the first prediction goes to the history
        then=TEAM_EDITS + SNAPSHOT + PRINT_SNAPSHOT,
    )
    assert all(before.values()), [name for name, found in before.items() if not found]

    new.manage("migrate", "--noinput")
    after = new.run(["migrate", "--check"], then=SNAPSHOT + PRINT_SNAPSHOT)  # none left

    moved = {"fail_groups", "group_permissions", "log_entries"}
    assert {k: v for k, v in after.items() if k not in moved} == {
        k: v for k, v in before.items() if k not in moved
    }
    assert after["fail_groups"] == before["fail_groups"]  # same keys, names and tests
    edited = {code: (name, tests) for _, code, name, tests in after["fail_groups"]}
    assert edited[4] == ("Doors and hatches", ["Door water test", "Hinge torque check"])
    assert 137 not in edited and edited[77] == ("Roof", ["Roof leak test"])
    assert [row for row in after["group_permissions"] if row[0] == "quality"] == [
        ["quality", "plant", "change_failgroup"],
        ["quality", "plant", "view_dataset"],
        ["quality", "plant", "view_vehicle"],
    ]
    # The upgrade creates the "Quality lead" group as a fresh installation does.
    assert {
        (app, codename) for group, app, codename in after["group_permissions"]
        if group == QUALITY_LEAD
    } == QUALITY_LEAD_PERMISSIONS
    assert {row[0] for row in after["group_permissions"]} == {"quality", QUALITY_LEAD}
    [[app, model_name, object_id, _]] = after["log_entries"]
    assert (app, model_name, object_id) == ("plant", "dataset", before["log_entries"][0][2])

    # The new code works on what it found: imports next week's vehicles and predicts one.
    out = tmp_path / "predictions.csv"
    fresh = new.run(
        ["generate_demo_data", "--knrs", "30", "--out", str(later)],
        ["import_data", "--results", str(later / "results.csv.gz"),
         "--defects", str(later / "defects.csv"), "--no-progress"],
        then=SNAPSHOT + f"""
from plant.models import Vehicle
from plant.selectors import get_fail_group_labels
newest = Vehicle.objects.order_by("-knr")[0].knr
call_command("predict", "--knr", newest, "--out", {str(out)!r}, stdout=io.StringIO())
print(json.dumps({{**snapshot(), "labels": get_fail_group_labels()}}))
""",
    )
    assert len(fresh["datasets"]) == len(before["datasets"]) + 2
    assert len(fresh["vehicles"]) == KNRS + 30
    newest = max(knr for _, knr, *_ in fresh["vehicles"])
    assert newest in out.read_text()
    assert fresh["labels"]["4"] == "Doors and hatches" and fresh["labels"]["77"] == "Roof"
