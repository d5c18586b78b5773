"""The fail bar beside the oracles: paired by world, size and seed, counted against the bar."""

from bench.oracle_gap import pairs, report
from tests.bench.test_worlds_report import entry, kind_row


def oracle(world, seed, full, blind, knrs=3000):
    return {"world": world, "knrs": knrs, "seed": seed, "oracle": full,
            "oracle_time_blind": blind}


def test_pairs_only_what_both_measured_and_counts_the_bar():
    worlds = [
        entry("interactions", seed=1, rows=[kind_row("fail", 300, ratio=0.95)]),
        entry("interactions", seed=2, rows=[kind_row("fail", 300, ratio=0.98)]),
        entry("interactions", seed=3, rows=[kind_row("fail", 300, ratio=0.99)]),
        entry("interactions", seed=4, rows=[kind_row("group_2")]),  # no fail model
    ]
    oracles = [oracle("interactions", 1, 1.0, 0.95), oracle("interactions", 2, 0.99, 0.98),
               oracle("interactions", 4, 1.0, 0.98), oracle("interactions", 1, 1.0, 0.9, 5000)]

    rows = pairs(worlds, oracles)

    assert [(r["seed"], r["crossline"], r["oracle_time_blind"]) for r in rows] == [
        (1, 0.95, 0.95), (2, 0.98, 0.98)
    ]
    text = report(rows, "cmd")
    assert (
        "| interactions | 3000 | 2 | 0.965 (1 of 2) | 0.995 (2 of 2) | 0.965 (1 of 2) | 1.000 |"
        in text
    )
