"""Numbers rounded for people: three significant digits, shares as percentages (one decimal)."""

import math
from typing import Any

# Shares of vehicles read better as percentages; scores such as PR-AUC stay decimals.
PERCENT_METRICS = frozenset({"accuracy", "precision", "recall", "f1_score", "flagged_share"})
METRIC_LABELS = {
    "pr_auc": "PR-AUC",
    "plain_pr_auc": "PR-AUC of the plain approach",
    "roc_auc": "ROC-AUC",
    "recall": "Recall",
    "precision": "Precision",
    "f1_score": "F1",
    "mcc": "MCC",
    "accuracy": "Accuracy",
    "threshold": "Threshold",
    "flagged_share": "Flagged",
}
MISSING = "–"


def _missing(value: Any) -> bool:
    return not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value))


def significant(value: Any, digits: int = 3) -> str:
    """`value` to `digits` significant digits (whole numbers keep every digit, with commas)."""
    if _missing(value):
        return MISSING
    value = round(value, 10)  # 0.85 - 0.70 is 0.15000000000000002
    whole = isinstance(value, float) and value.is_integer() and abs(value) >= 1
    if isinstance(value, int) or whole:
        return f"{int(value):,}"
    if value == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    return f"{value:,.{decimals}f}"


def percent(value: Any) -> str:
    """A share in [0, 1] as a percentage with one decimal, everywhere ("4.7%" beside "17.6%")."""
    if _missing(value):
        return MISSING
    return f"{value * 100:,.1f}%"


def file_size(size: Any) -> str:
    """A size in bytes as people read it: "50.7 KB", "1.23 GB" (1 KB is 1,000 bytes)."""
    if _missing(size):
        return MISSING
    if abs(size) < 1000:
        return f"{size:,} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if abs(size) < 1000 or unit == "GB":
            break
    return f"{significant(size)} {unit}"


def metric(name: str, value: Any) -> str:
    """A named metric as people read it (a percentage for shares)."""
    return percent(value) if name in PERCENT_METRICS else significant(value)


def metric_difference(name: str, value: Any) -> str:
    """A difference between two versions' metric, with its sign (percentage points for shares)."""
    if value is None:
        return MISSING
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    if name in PERCENT_METRICS:
        return f"{sign}{significant(abs(value) * 100)} pts"
    return f"{sign}{significant(abs(value))}"
