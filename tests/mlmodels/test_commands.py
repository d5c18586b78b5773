import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from mlmodels.models import ActiveModel
from mlmodels.services import activate_model_version

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_set_active_model_moves_the_pointer(register):
    old, new = register(), register()
    activate_model_version(version=old)

    output = run("set_active_model", "fail-v2")

    assert output.strip() == "fail-v2 is now the active fail model (was fail-v1)."
    assert ActiveModel.objects.filter(type_model="fail").count() == 1
    assert ActiveModel.objects.get(type_model="fail").version_id == new.pk


def test_set_active_model_refuses_an_unknown_name(register):
    version = register()
    activate_model_version(version=version)

    with pytest.raises(CommandError, match="fail-v5"):
        run("set_active_model", "fail-v5")

    assert ActiveModel.objects.get(type_model="fail").version_id == version.pk


def test_list_models_prints_one_row_per_version_with_the_active_one_starred(register):
    active = register("fail", pr_auc=0.612, recall=0.8, precision=0.5, threshold=0.25)
    active.diagnostics = {"estimator": "hist_gradient_boosting"}
    active.save()
    register("fail")
    register("group_4", confusion_matrix=[[180, 8], [4, 8]])
    activate_model_version(version=active)

    lines = run("list_models").splitlines()

    assert lines[0].split() == [
        "kind",
        "name",
        "version",
        "active",
        "eligible",
        "pr_auc",
        "plain_pr_auc",
        "recall",
        "precision",
        "flagged",
        "threshold",
        "folds",
        "positives",
        "judged_pr_auc",
        "judged_plain",
        "realised_recall",
        "realised_precision",
        "closed",
        "open",
        "created",
        "archived",
        "estimator",
        "gate",
    ]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"fail-v1", "fail-v2", "group_4-v1"}
    assert rows["fail-v1"][:19] == [
        "fail", "fail-v1", "1", "*", "yes", "0.612", "-", "0.800", "0.500", "0.400", "0.250",
        "-", "-", "-", "-",
        # Nothing predicted yet: no realised metrics.
        "-", "-", "0", "0",
    ]
    at = lines[0].index("estimator")
    estimators = {line.split()[1]: line[at:].split()[0] for line in lines[1:]}
    assert estimators["fail-v1"] == "hist_gradient_boosting"
    assert estimators["fail-v2"] == "-"  # none recorded
    assert "*" not in rows["fail-v2"]
    assert "*" not in rows["group_4-v1"]
    # Below the gate, with the reason: 12 positives in its test set.
    assert rows["group_4-v1"][3] == "no"
    group_line = next(line for line in lines if "group_4-v1" in line)
    assert "only 12 positives in the test set (the gate needs 30)" in group_line


def test_list_models_leaves_archived_versions_out_unless_asked_and_says_so(register):
    from mlmodels.archive import archive_model_version

    active = register("fail")
    old = register("fail")
    register("group_4")
    activate_model_version(version=active)
    assert archive_model_version(version=old)
    old.refresh_from_db()

    lines = run("list_models").splitlines()
    assert [line.split()[1] for line in lines[1:-1]] == ["fail-v1", "group_4-v1"]
    assert lines[-1] == "1 archived version not listed (--archived lists them)."

    lines = run("list_models", "--archived").splitlines()
    at = lines[0].index("archived")
    archived = {line.split()[1]: line[at:].split()[0] for line in lines[1:]}
    assert archived == {
        "fail-v1": "-", "fail-v2": f"{old.archived_at:%Y-%m-%d}", "group_4-v1": "-"
    }
    assert run("list_models", "--type-model", "group_4").splitlines()[-1].split()[1] == (
        "group_4-v1"
    )


def test_list_models_filters_by_kind(register):
    register("fail")
    register("group_4")

    lines = run("list_models", "--type-model", "group_4").splitlines()

    assert [line.split()[1] for line in lines[1:]] == ["group_4-v1"]
    assert run("list_models", "--type-model", "group_9").strip() == (
        "No model versions of kind group_9."
    )


def test_list_models_shows_the_plain_approach_beside_each_version_and_the_folds_judged(
    register,
):
    from tests.mlmodels.conftest import JUDGED

    register("group_9830946", pr_auc=0.412, plain_pr_auc=0.356, judged=JUDGED,
             confusion_matrix=[[180, 8], [4, 8]])

    lines = run("list_models").splitlines()

    # Columns by their position in the header: an empty cell (not active) has no word.
    starts = [word.start() for word in re.finditer(r"\S+", lines[0])]
    cells = [lines[1][a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    row = dict(zip(lines[0].split(), cells, strict=True))
    assert (row["pr_auc"], row["plain_pr_auc"]) == ("0.412", "0.356")
    assert (row["folds"], row["positives"]) == ("4", "66")
    assert (row["judged_pr_auc"], row["judged_plain"]) == ("0.310", "0.270")
    # Twelve positives in its test set, 66 across the folds: the gate counts the folds.
    assert row["eligible"] == "yes"
    assert "66 positives in 4 time folds (1,320 vehicles)" in lines[1]
