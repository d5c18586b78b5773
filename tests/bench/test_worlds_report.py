"""The report across worlds: measurements merged by world, size and seed, and the bars counted."""

from bench.worlds.report import about_five_percent, merge, verdict, worlds_report


def kind_row(kind, positives=60, interval=(-0.02, 0.05), ratio=0.95, eligible=True):
    return {
        "kind": kind,
        "test_positives": positives,
        "prevalence": positives / 1000,
        "ratio": ratio,
        "plain_ratio": 0.9,
        "truth_pr_auc": 0.5,
        "expected_ratio": ratio,
        "plain_expected_ratio": 0.9,
        "against_plain_95": list(interval),
        "eligible": eligible,
        "active": eligible,
        "estimator": "hist_gradient_boosting",
    }


def entry(world="demo", knrs=3000, seed=41, rows=None, no_model=None, prevalence=None):
    return {
        "world": world,
        "knrs": knrs,
        "seed": seed,
        "database": "sqlite",
        "commit": "abc1234",
        "product_commit": "abc1234",
        "uncommitted_changes": False,
        "import_seconds": 1.0,
        "train_seconds": 10.0,
        "plain_seconds": 5.0,
        "kinds": rows or [kind_row("fail", 500, ratio=0.98), kind_row("group_2")],
        "no_model": no_model or {},
        "prevalence_all": prevalence or {"fail": 0.5, "group_2": 0.2},
    }


def test_merge_replaces_the_same_world_size_and_seed_and_keeps_the_rest():
    old = [entry(seed=41), entry(seed=43), entry(world="interactions", seed=41)]
    new = entry(seed=41, rows=[kind_row("fail", 500, ratio=0.5)])
    merged = merge(old, [new])
    assert [(e["world"], e["seed"]) for e in merged] == [
        ("demo", 41), ("demo", 43), ("interactions", 41)
    ]
    assert merged[0] is new


def test_verdict_reads_the_95_percent_interval_of_groups_with_enough_positives():
    assert verdict(kind_row("group_2", interval=(-0.10, -0.01))) == "below"
    assert verdict(kind_row("group_2", interval=(0.01, 0.10))) == "better"
    assert verdict(kind_row("group_2", interval=(-0.01, 0.10))) == "as good"
    assert verdict(kind_row("group_2", positives=29, interval=(-0.1, -0.05))) == "not judged"
    assert verdict(kind_row("fail", positives=500, interval=(-0.1, -0.05))) == "not judged"


def test_groups_of_about_five_percent_are_listed_with_why_they_have_no_model():
    measured = entry(
        rows=[kind_row("fail", 500), kind_row("group_133", eligible=True),
              kind_row("group_9830946", positives=27, eligible=False)],
        no_model={"group_9830946": "below the gate: only 27 positives",
                  "group_140": "not trained: 20 positives"},
        prevalence={"fail": 0.5, "group_133": 0.051, "group_9830946": 0.046, "group_140": 0.015},
    )
    assert about_five_percent(measured) == [
        ("group_133", 0.051, True, None),
        ("group_9830946", 0.046, False, "below the gate: only 27 positives"),
    ]


def test_the_report_counts_the_bars_per_world_and_size_and_names_kinds_without_a_model():
    entries = [
        entry(seed=41, rows=[kind_row("fail", 500, ratio=0.98),
                             kind_row("group_2", interval=(-0.1, -0.02)),
                             kind_row("group_4"), kind_row("group_1", positives=12)],
              prevalence={"fail": 0.5, "group_2": 0.2, "group_4": 0.05}),
        entry(seed=43, rows=[kind_row("fail", 500, ratio=0.96), kind_row("group_2"),
                             kind_row("group_4", eligible=False)],
              no_model={"group_4": "below the gate: PR-AUC 0.05 below 0.07",
                        "group_137": "not trained: 22 positives in the training period"},
              prevalence={"fail": 0.5, "group_2": 0.2, "group_4": 0.05}),
        entry(world="interactions", knrs=5000, seed=41),
    ]
    text = worlds_report(entries)
    assert "| demo | 3000 | 2 | 3 of 4 | 1 of 2 | 1 of 2 |" in text
    assert "| interactions | 5000 | 1 | 1 of 1 | 1 of 1 | 0 of 0 |" in text
    assert "| 43 | group_137 | | | | | | | | | | none, not trained: 22 positives" in text
    assert "none, below the gate: PR-AUC 0.05 below 0.07 |" in text
    assert "below plain: group_2 [-0.100, -0.020]" in text
    assert "fail model 0.960 of truth (below the bar)" in text
    assert text.index("## The demo's generator") < text.index("## Interactions and shifts")
