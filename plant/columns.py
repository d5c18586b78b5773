"""Feature columns in the team's words: `value|SECTION_ZP8_00000001#2|2` is
"SECTION_ZP8_00000001 torque, screw 2, value".

Feature names are those of `training.pipeline.features.ResultFeatures`: `value|NAME#ID|sub`,
`min|NAME#ID`, `max|NAME#ID`, `mean|NAME#ID`, `last_nok|NAME#ID`, `runs|NAME#ID`, the aggregates
and the line times. A test's quantity comes from its unit, as the plant's latest rows give it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from plant.selectors import get_test_units

# Family IDs as the plant numbers them: 2 is screwing (a section's screws are its sub-results).
SCREWING = 2
QUANTITIES = {
    "nm": "torque", "grad": "angle", "deg": "angle", "°": "angle", "v": "voltage",
    "kg": "weight", "mm": "length", "min": "time", "%": "share", "clicks": "clicks",
}
WORDS = {
    "n_results": "results in all",
    "n_nok": "NOK results",
    "n_tests": "tests run",
    "n_nok_tests": "tests with a NOK result",
    "n_retests": "tests run again",
    "n_other_tests": "tests outside the model's list",
    "hour": "hour of the first test",
    "weekday": "weekday of the first test",
    "shift": "shift of the first test",
    "shift_minutes": "minutes into the shift at the first test",
    "line_minutes": "minutes on the line",
}

Units = Mapping[tuple[str, int | None], str]


def column_labels(names: Iterable[str], units: Units | None = None) -> dict[str, str]:
    """Each column's label (`units` read once from the plant's rows when not given)."""
    names = list(names)
    if units is None:
        units = get_test_units() if any("|" in name for name in names) else {}
    return {name: column_label(name, units) for name in names}


def column_label(name: str, units: Units) -> str:
    """One column in the team's words."""
    kind, _, rest = name.partition("|")
    if not rest:
        return WORDS.get(name, name)
    test_id, _, sub = rest.partition("|")
    test, _, family_text = test_id.rpartition("#")
    test = test or test_id
    family = int(family_text) if family_text.lstrip("-").isdigit() else None
    screws = family == SCREWING
    quantity = QUANTITIES.get(units.get((test, family), "").strip().lower(), "")
    measured = f"{test} {quantity}".strip()
    if kind == "value":
        if screws:
            return f"{measured}, screw {sub}, value"
        return f"{measured}, value" if sub in ("", "0", "1") else f"{measured}, value {sub}"
    if kind in ("min", "max"):
        which = "lowest" if kind == "min" else "highest"
        return f"{measured}, {which} {'screw' if screws else 'value'}"
    if kind == "mean":
        return f"{measured}, mean of its {'screws' if screws else 'values'}"
    if kind == "last_nok":
        return f"{test}, last result NOK"
    if kind == "runs":
        return f"{test}, times run"
    return name
