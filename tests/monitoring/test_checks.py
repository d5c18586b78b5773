"""The monthly check on the demo line: a model trained on its first months, later months checked
against it; five tests shifted from a month on raise one drift alarm for that kind and month,
naming them, and months without a shift raise none."""

import importlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from monitoring.checks import check_months
from monitoring.models import Alarm, MonthCheck, Verdict
from plant.demo import strongest_tests
from plant.imports import import_dataset
from tests.support.generated_client import PACKAGE, generate_client, typed
from training.models import PipelineDefinition
from training.pipeline.definition import PIPELINES_DIR
from training.runs import execute_training_run, start_training_run

pytestmark = pytest.mark.django_db

SHIFTED = strongest_tests(5)


def generate(out, *args) -> dict:
    """Run generate_demo_data into `out`; import its files (results, then defects)."""
    call_command("generate_demo_data", "--out", str(out), "--tests-per-knr", "20", *args,
                 stdout=io.StringIO())
    paths = {"results": out / "results.csv.gz", "defects": out / "defects.csv"}
    for kind, path in paths.items():
        import_dataset(path=path, original_name=path.name, kind=kind)
    return paths


@pytest.fixture
def trained(settings, tmp_path):
    """A fail model trained on four months of 1,200 demo vehicles (Jan-Apr 2024)."""
    settings.CROSSLINE_MIN_POSITIVES = 25
    settings.CROSSLINE_GATE_MIN_POSITIVES = 5
    settings.CROSSLINE_GATE_MIN_LIFT = 1.0
    # 300 vehicles a month: the minimum lowered to rehearse on small data.
    settings.CROSSLINE_DRIFT_MIN_VEHICLES = 200
    # Thresholds from four months of 300 vehicles are noisy: 3-4 of the fail model's 20
    # columns drift by chance in a month (1% at the plant's months; 14 when 5 tests shift).
    settings.CROSSLINE_DRIFT_CHANCE = 0.15
    definition = json.loads((PIPELINES_DIR / "default.json").read_text())
    definition["name"] = "quick"
    definition["params"]["estimator"] = "logistic_regression"
    definition["params"]["drift_min_vehicles"] = 200
    PipelineDefinition.objects.create(name="quick", definition=definition)
    generate(tmp_path / "first", "--knrs", "1200", "--days", "120")
    run = start_training_run(enqueue=False, pipeline_name="quick")
    return execute_training_run(str(run.pk))


def test_shifted_tests_raise_one_alarm_for_their_kind_and_month(trained, tmp_path):
    # Next: May to August, five tests shifted from July on.
    generate(tmp_path / "next", "--knrs", "1200", "--days", "120", "--seed", "1",
             "--drift-from", "2024-07-01", "--drift-tests", "5")

    checks = {c.month: c for c in check_months(kinds=["fail"], force=True)}

    assert {"2024-05", "2024-06", "2024-07", "2024-08"} <= set(checks)
    assert checks["2024-05"].drift == checks["2024-06"].drift == Verdict.NO_ALARM
    assert checks["2024-07"].drift == checks["2024-08"].drift == Verdict.ALARM
    drifted = " ".join(checks["2024-07"].drifted)
    assert all(test in drifted for test in SHIFTED[:3])
    alarms = list(Alarm.objects.filter(signal=Alarm.Signal.DRIFT))
    assert sorted((a.type_model, a.month) for a in alarms) == [
        ("fail", "2024-07"), ("fail", "2024-08")
    ]
    # Checked again (by the command): still one alarm per kind and month.
    out = io.StringIO()
    call_command("check_months", "--month", "2024-07", "--kind", "fail", "--force", stdout=out)
    assert "2024-07 fail-v1" in out.getvalue() and "drift: Alarm" in out.getvalue()
    assert out.getvalue().endswith("1 checks, 1 with a drift alarm.\n")
    with pytest.raises(CommandError, match="Not a month: 2024-7"):
        call_command("check_months", "--month", "2024-7")
    assert Alarm.objects.filter(signal=Alarm.Signal.DRIFT).count() == 2
    assert MonthCheck.objects.filter(month="2024-07").count() == 1


def test_months_without_a_shift_raise_no_alarm(trained, tmp_path):
    generate(tmp_path / "next", "--knrs", "1200", "--days", "120", "--seed", "1")

    checks = check_months(kinds=["fail"], force=True)

    assert len(checks) >= 8
    assert [c.month for c in checks if c.drift == Verdict.ALARM] == []
    assert not Alarm.objects.exists()


@pytest.mark.usefixtures("client_package")
def test_the_page_and_the_api_name_the_shifted_tests(
    trained, tmp_path, plain_api, admin_user_client
):
    generate(tmp_path / "next", "--knrs", "1200", "--days", "120", "--seed", "1",
             "--drift-from", "2024-07-01", "--drift-tests", "5")
    check_months(kinds=["fail"], force=True)

    assert Client().get("/api/monitoring/drift/?kind=fail").status_code == 401
    answer = plain_api.get("/api/monitoring/drift/?kind=fail&month=2024-07")
    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert [m["month"] for m in report["months"] if m["alarm"]] == ["2024-07", "2024-08"]
    detail = report["month"]
    assert detail["month"] == "2024-07" and detail["alarm"]
    named = " ".join(c["column"] for c in detail["columns"] if c["drifted"])
    assert all(test in named for test in SHIFTED[:3])
    top = detail["columns"][0]
    assert top["drifted"] and top["bins"]["labels"]
    performance = plain_api.get("/api/monitoring/performance/?kind=fail")
    assert performance.status_code == 200
    months = {m["month"]: m for m in performance.json()["months"]}
    assert months["2024-05"]["estimated"]["precision"] is not None
    assert months["2024-01"]["status"] == Verdict.TRAINING
    assert plain_api.get("/api/monitoring/drift/?kind=group_999").status_code == 404
    assert plain_api.get("/api/monitoring/drift/?kind=fail&month=2031-01").status_code == 404
    assert plain_api.get("/api/monitoring/drift/?kind=fail&month=24-7").status_code == 400

    # The monitoring page: the same month, its drifted columns; the dashboard's open alarms.
    page = admin_user_client.get(
        "/admin/monitoring/monthcheck/?kind=fail&month=2024-07"
    ).content.decode()
    assert all(f'title="value|{test}' in page for test in SHIFTED[:3])
    # In the team's words: the quantity from the unit the stored rows give the test.
    assert f"{SHIFTED[0]} torque, screw" in page
    assert 'id="chart-drift-share"' in page and 'id="chart-column-0"' in page
    # Kinds and verdicts in words, not codes.
    assert "<strong>Any defect</strong>" in page and ">fail</" not in page
    assert "<td>Alarm</td>" in page and "<td>Trained on this month: not estimated</td>" in page
    assert "no_alarm" not in page and "(Alarm, " in page
    home = admin_user_client.get("/admin/").content.decode()
    assert "Input drift: Any defect, 2024-07" in home and "Input drift: Any defect, 2024-08" in home
    alarms = Alarm.objects.filter(month="2024-07")
    closed = admin_user_client.post("/admin/monitoring/alarm/", {
        "action": "close", "_selected_action": [str(a.pk) for a in alarms]})
    assert closed.status_code == 302
    home = admin_user_client.get("/admin/").content.decode()
    assert "Input drift: Any defect, 2024-07" not in home
    assert plain_api.get("/admin/monitoring/monthcheck/").status_code == 302

    # A client generated from the schema reads both answers with every field typed.
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    generate_client(json.loads(schema.content), tmp_path)
    models = importlib.import_module(f"{PACKAGE}.models")
    typed(models.DriftReport.from_dict(report), models.DriftReport, "drift")
    typed(models.PerformanceReport.from_dict(performance.json()), models.PerformanceReport,
          "performance")
