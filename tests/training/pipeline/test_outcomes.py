"""A run's log line names each version's kind in the team's words."""

from training.pipeline.outcomes import registered_line


def test_the_registered_line_names_kinds_by_the_teams_names_and_says_why_below_the_gate():
    labels = {2: "Central part", 9830946: "Wiring and battery"}

    line = registered_line(
        {
            "fail": ("fail-v3", None),
            "group_9830946": ("group_9830946-v3", "only 12 positives in the time folds"),
        },
        {"group_2": {"error": "FitFailed: every candidate failed"}},
        labels,
    )

    assert line == (
        "registered fail-v3 (Any defect), group_9830946-v3 (9830946 Wiring and battery); "
        "below the activation gate: group_9830946-v3 (9830946 Wiring and battery): only 12 "
        "positives in the time folds; failed: group_2 (2 Central part): FitFailed: every "
        "candidate failed"
    )
    assert registered_line({"fail": ("fail-v1", None)}, {}, labels) == (
        "registered fail-v1 (Any defect)"
    )
