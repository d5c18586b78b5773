"""Predictions as CSV, safe to open in a spreadsheet (the command's `--out`, a batch's result)."""

from __future__ import annotations

import io
from collections.abc import Iterable

from crossline.spreadsheet import SafeWriter
from predictions.models import Prediction

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
