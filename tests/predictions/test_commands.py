"""`manage.py predict`: its CSV columns and the operator's mistakes."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from predictions.models import Prediction
from tests.predictions.conftest import write_results_csv

pytestmark = pytest.mark.django_db


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_knrs_writes_one_row_per_knr_with_the_active_groups(
    active_models, stored_knrs, tmp_path: Path
):
    out = tmp_path / "out.csv"
    call_command("predict", "--knr", *stored_knrs[:3], "--out", str(out), stderr=io.StringIO())
    text = out.read_text()
    header = text.splitlines()[0].split(",")
    assert header == [
        "KNR", "p_fail", "p_2", "p_4", "flagged", "flagged_by", "predicted_fail_codes",
        "no_model_groups", "indicated_tests",
    ]
    rows = _rows(text)
    assert [r["KNR"] for r in rows] == stored_knrs[:3]
    for row in rows:
        stored = Prediction.objects.get(knr=row["KNR"])
        assert float(row["p_fail"]) == pytest.approx(stored.p_fail, abs=1e-6)
        assert row["predicted_fail_codes"] == ";".join(map(str, stored.predicted_fail_codes))
        assert row["indicated_tests"] == ";".join(stored.indicated_tests)


def test_predict_with_the_knr_option_repeated_predicts_every_knr(active_models, stored_knrs):
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("predict", "--knr", stored_knrs[0], "--knr", stored_knrs[1], stored_knrs[2],
                 stdout=stdout, stderr=stderr)
    assert [r["KNR"] for r in _rows(stdout.getvalue())] == stored_knrs[:3]
    assert sorted(Prediction.objects.values_list("knr", flat=True)) == stored_knrs[:3]
    # Not a terminal: the summary line only, no progress bar.
    flagged = sum(p.predicted_fail for p in Prediction.objects.all())
    assert stderr.getvalue() == f"Predicted 3 KNRs ({flagged} flagged)\n"


def test_a_single_value_option_given_twice_is_refused_and_nothing_is_predicted(
    active_models, stored_knrs, tmp_path: Path
):
    with pytest.raises(CommandError, match="--out: given more than once"):
        call_command("predict", "--knr", stored_knrs[0], "--out", str(tmp_path / "a.csv"),
                     "--out", str(tmp_path / "b.csv"), stdout=io.StringIO())
    assert Prediction.objects.count() == 0
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_predict_results_file_does_not_store_a_dataset(active_models, trained, tmp_path: Path):
    from plant.models import Dataset, VehicleRecord

    path = write_results_csv(trained, trained.knrs[50:54], tmp_path / "r.csv")
    stdout = io.StringIO()
    call_command("predict", "--results", str(path), stdout=stdout, stderr=io.StringIO())
    assert [r["KNR"] for r in _rows(stdout.getvalue())] == trained.knrs[50:54]
    assert Dataset.objects.count() == 0
    assert VehicleRecord.objects.count() == 0


def test_predict_since_a_date(active_models, stored_knrs):
    stdout = io.StringIO()
    call_command("predict", "--since", "2020-01-01", stdout=stdout, stderr=io.StringIO())
    assert sorted(r["KNR"] for r in _rows(stdout.getvalue())) == sorted(stored_knrs)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--knr", "2024-9999999"], "No stored test results for KNR 2024-9999999"),
        (["--since", "last tuesday"], "'last tuesday' is not a date"),
        (["--results", "/nonexistent/results.csv"], "No such file: /nonexistent/results.csv"),
        # A stored KNR: only the missing folder of --out is wrong.
        (["--knr", "{stored}", "--out", "/nonexistent/dir/out.csv"],
         "The folder of --out /nonexistent/dir/out.csv does not exist"),
    ],
    ids=["unknown-knr", "not-a-date", "no-such-file", "no-such-out-folder"],
)
def test_operator_mistakes_are_command_errors(active_models, stored_knrs, args, message):
    args = [arg.format(stored=stored_knrs[0]) for arg in args]
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("predict", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert Prediction.objects.count() == 0


def test_without_an_active_model_the_command_fails_clearly(db, stored_knrs):
    with pytest.raises(CommandError, match="active"):
        call_command("predict", "--knr", stored_knrs[0], stdout=io.StringIO())
