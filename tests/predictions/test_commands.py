"""`manage.py predict`: its CSV columns and the operator's mistakes."""

import csv
import io
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


def test_predict_results_file_does_not_store_a_dataset(active_models, trained, tmp_path: Path):
    from training.models import Dataset, VehicleRecord

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
    "args",
    [
        ["--knr", "2024-9999999"],
        ["--since", "last tuesday"],
        ["--results", "/nonexistent/results.csv"],
        ["--knr", "2024-0000001", "--out", "/nonexistent/dir/out.csv"],
    ],
)
def test_operator_mistakes_are_command_errors(active_models, stored_knrs, args):
    with pytest.raises(CommandError):
        call_command("predict", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_without_an_active_model_the_command_fails_clearly(db, stored_knrs):
    with pytest.raises(CommandError, match="active"):
        call_command("predict", "--knr", stored_knrs[0], stdout=io.StringIO())
