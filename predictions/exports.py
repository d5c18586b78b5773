"""Predictions and the worklist as CSV (the command's `--out`, a batch's result) or Excel, safe
to open in a spreadsheet."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from crossline.domain import fail_group_label
from crossline.spreadsheet import SafeWriter, xlsx_bytes
from predictions.models import Prediction
from predictions.selectors import WorklistView

CSV_HEADER_END = [
    "flagged", "flagged_by", "predicted_fail_codes", "no_model_groups", "indicated_tests"
]


def predictions_csv(predictions: Iterable[Prediction], *, groups: list[int] | None = None) -> str:
    """One CSV row per prediction (safe in a spreadsheet): KNR, p_fail, p_<code>…, flagged,
    what flagged it, the flagged groups, the groups with no model, the indicated tests."""
    predictions = list(predictions)
    if groups is None:
        codes = {int(c) for p in predictions for c in p.probabilities}
        groups = sorted(codes)
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(["KNR", "p_fail", *(f"p_{g}" for g in groups), *CSV_HEADER_END])
    for p in predictions:
        writer.writerow(
            [
                p.knr,
                p.p_fail,
                *(_proba_cell(p.probabilities.get(str(g))) for g in groups),
                p.predicted_fail,
                ";".join(p.flagged_by or []),
                ";".join(str(c) for c in p.predicted_fail_codes),
                ";".join(str(c) for c in p.no_model_groups or []),
                # Inspection names are edited in the admin: free text, neutralised by the writer.
                ";".join(p.indicated_tests),
            ]
        )
    return out.getvalue()


def _proba_cell(value: float | None) -> float | None:
    return None if value is None else float(value)


WORKLIST_HEADER = [
    "rank", "KNR", "production day", "risk", "fail groups", "indicated tests",
    "why (the test results that raised its risk most)",
]


def worklist_rows(worklist: WorklistView, labels: dict[int, str]) -> list[list[Any]]:
    """The worklist as rows by risk, highest first: rank, KNR, day, risk, the fail groups
    (by name), the indicated tests and the reasons, each in the team's words."""
    return [
        [
            rank,
            p.knr,
            f"{timezone.localtime(p.produced_at):%Y-%m-%d}" if p.produced_at else None,
            None if p.risk is None else round(float(p.risk), 4),
            "; ".join(fail_group_label(code, labels) for code in p.predicted_fail_codes or []),
            "; ".join(p.indicated_tests or []),
            "; ".join(reason.get("text", "") for reason in p.explanation or []),
        ]
        for rank, p in enumerate(worklist.vehicles, start=1)
    ]


def worklist_csv(worklist: WorklistView, labels: dict[int, str]) -> str:
    """The worklist as CSV (safe in a spreadsheet)."""
    out = io.StringIO()
    writer = SafeWriter(out, float_format="{:.4f}")
    writer.writerow(WORKLIST_HEADER)
    writer.writerows(worklist_rows(worklist, labels))
    return out.getvalue()


def worklist_xlsx(worklist: WorklistView, labels: dict[int, str]) -> bytes:
    """The worklist as an Excel workbook (safe in a spreadsheet)."""
    return xlsx_bytes(WORKLIST_HEADER, worklist_rows(worklist, labels), sheet="Worklist")


def worklist_filename(worklist: WorklistView, extension: str) -> str:
    """`worklist-2024-05-16.csv`, or `worklist-2024-05-01-to-2024-05-31.xlsx` for a range."""
    days = f"{worklist.first:%Y-%m-%d}"
    if worklist.last != worklist.first:
        days += f"-to-{worklist.last:%Y-%m-%d}"
    return f"worklist-{days}.{extension}"
