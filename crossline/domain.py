"""crossline's vocabulary: model kinds, the KNR, fail groups and the names people see for them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# --- model kinds: one model predicts "fails at all", one per fail group -----------------------
FAIL_KIND = "fail"
GROUP_PREFIX = "group_"

# --- the KNR, a vehicle's number ----------------------------------------------------------------
# ASCII digits: Python's `\d` takes any script's digits ("٢٠٢٤-…"), which the readers' engine
# (RE2), the schema's and the plant's systems do not.
KNR_PATTERN = r"[0-9]{4}-[0-9]{7}"
KNR_RE = re.compile(KNR_PATTERN)
KNR_FORMAT = "YYYY-NNNNNNN"
KNR_MESSAGE = f"A KNR has the form {KNR_FORMAT}."

# --- months, as people type them in filters ------------------------------------------------------
MONTH_PATTERN = r"([0-9]{4})-(0[1-9]|1[0-2])"
MONTH_RE = re.compile(MONTH_PATTERN)
MONTH_MESSAGE = "Give the month as YYYY-MM."

# --- fail groups ---------------------------------------------------------------------------------
# The plant's eight fail groups in the quality team's order, with their default names; the team
# edits the names people see (plant's fail groups: `plant.selectors.get_fail_group_labels`).
FAIL_GROUPS: dict[int, str] = {
    2: "Central part",
    4: "Doors",
    5: "Front",
    1: "Rear",
    9830946: "Electrical",
    133: "General",
    140: "Documentation",
    137: "External floor",
}
# Defect codes that name no fail group ("unexplained" and a spreadsheet's multi-value cell):
# such rows carry no label and are dropped on import.
NO_GROUP_CODE = -2
NO_GROUP_TEXT = "#MULTIVALUE"


def group_kind(code: int) -> str:
    """The model kind that predicts fail group `code`."""
    return f"{GROUP_PREFIX}{int(code)}"


def fail_group_of(kind: str) -> int | None:
    """The fail group a model kind predicts, or None for the fails-at-all kind."""
    return int(kind.removeprefix(GROUP_PREFIX)) if kind.startswith(GROUP_PREFIX) else None


def frame_codes(codes: Iterable[int]) -> str:
    """Fail-group codes framed by commas (",2,4,"), so that one group is a portable `contains`."""
    unique = sorted({int(c) for c in codes})
    return f",{','.join(map(str, unique))}," if unique else ""


def framed_code(code: int) -> str:
    """The `contains` needle that finds fail group `code` in framed codes."""
    return f",{int(code)},"


def parse_framed_codes(text: str) -> list[int]:
    """The codes of framed text (",2,4," → [2, 4])."""
    return [int(code) for code in text.split(",") if code]


def parse_month(text: str) -> tuple[int, int] | None:
    """(year, month) of a "YYYY-MM" text, or None when it is not one."""
    match = MONTH_RE.fullmatch((text or "").strip())
    return (int(match[1]), int(match[2])) if match else None


def fail_group_name(code: int, labels: Mapping[int, str]) -> str:
    """A fail group's name in `labels` (code → name: the team's, read once per page, or the
    defaults `FAIL_GROUPS`), or "" for a code with none."""
    return labels.get(int(code), "")


def fail_group_label(code: int, labels: Mapping[int, str]) -> str:
    """What people see for a fail group: "4 Doors" (`labels` as for `fail_group_name`)."""
    return f"{int(code)} {fail_group_name(code, labels)}".strip()


def kind_label(kind: str, labels: Mapping[int, str]) -> str:
    """What people see for a model kind: "Any defect", or its fail group ("4 Doors")."""
    if kind == FAIL_KIND:
        return "Any defect"
    code = fail_group_of(kind)
    return kind if code is None else fail_group_label(code, labels)
