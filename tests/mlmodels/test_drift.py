"""Drift per production month: references, binned distances, thresholds and the alarm rule."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from mlmodels import drift


def months(count: int, per_month: int) -> list[str]:
    return [f"2024-{m + 1:02d}" for m in range(count) for _ in range(per_month)]


def reference_of(frame: pd.DataFrame, per_month: int | None = None, **kwargs) -> dict:
    per_month = per_month or len(frame)
    return drift.build_reference(frame, months(len(frame) // per_month, per_month), **kwargs)


def exact_normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    return wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n, shift: rng.normal(shift, 1.0, n),
        lambda rng, n, shift: rng.lognormal(0.5 * shift, 0.8, n),
        lambda rng, n, shift: np.round(rng.normal(25 + 0.8 * shift, 0.8, n), 3),
        lambda rng, n, shift: np.where(
            rng.random(n) < 0.3, rng.normal(-2 + shift, 0.5, n), rng.normal(1 + shift, 0.7, n)
        ),
    ],
    ids=["normal", "lognormal", "torque-like", "bimodal"],
)
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_binned_normed_wasserstein_is_within_a_hundredth_of_the_exact_one(draw, shift):
    rng = np.random.default_rng(7)
    before, now = draw(rng, 8000, 0.0), draw(rng, 700, shift)
    reference = reference_of(pd.DataFrame({"x": before}))

    compared = drift.compare(drift.summarise(pd.DataFrame({"x": now}), reference), reference)

    score = compared["columns"]["x"]["score"]
    assert compared["columns"]["x"]["method"] == drift.WASSERSTEIN
    assert score == pytest.approx(exact_normed_wasserstein(before, now), abs=0.01)


def test_a_column_with_few_values_per_bin_is_scored_exactly():
    rng = np.random.default_rng(3)
    before = rng.poisson(3.0, 5000).astype(float)  # about 12 distinct values: one per bin
    now = rng.poisson(3.6, 600).astype(float)
    reference = reference_of(pd.DataFrame({"n": before}))

    score = drift.compare(drift.summarise(pd.DataFrame({"n": now}), reference), reference)

    assert score["columns"]["n"]["score"] == pytest.approx(
        exact_normed_wasserstein(before, now), abs=1e-9
    )


def test_values_outside_the_reference_range_count_at_their_real_distance():
    before = np.linspace(0.0, 1.0, 1001)
    # A quarter of the month far below the reference's values, a quarter far above.
    now = np.r_[np.full(250, -7.0), np.linspace(0.0, 1.0, 501), np.full(250, 11.0)]
    reference = reference_of(pd.DataFrame({"x": before}))

    score = drift.compare(drift.summarise(pd.DataFrame({"x": now}), reference), reference)

    assert score["columns"]["x"]["score"] == pytest.approx(
        exact_normed_wasserstein(before, now), rel=0.01
    )
    assert score["columns"]["x"]["score"] > 10


def test_columns_with_five_values_or_fewer_use_jensen_shannon_in_base_2():
    before = np.r_[np.zeros(900), np.ones(100)]
    now = np.r_[np.zeros(700), np.ones(250), np.full(50, 2.0)]  # 2 never seen before
    reference = reference_of(pd.DataFrame({"nok": before}))

    column = drift.compare(
        drift.summarise(pd.DataFrame({"nok": now}), reference), reference
    )["columns"]["nok"]

    assert reference["columns"]["nok"]["kind"] == drift.CATEGORICAL
    assert column["method"] == drift.JENSEN_SHANNON
    # NannyML's leftover bin for the unseen value, base 2.
    expected = jensenshannon([0.9, 0.1, 0.0], [0.7, 0.25, 0.05], base=2)
    assert column["score"] == pytest.approx(expected, abs=1e-12)


def test_six_distinct_values_make_a_numeric_column():
    values = np.tile(np.arange(6.0), 100)
    few = np.tile(np.arange(5.0), 120)

    reference = reference_of(pd.DataFrame({"six": values, "five": few}))

    assert reference["columns"]["six"]["kind"] == drift.NUMERIC
    assert reference["columns"]["five"]["kind"] == drift.CATEGORICAL


def test_nan_and_inf_are_missing_left_out_of_the_distance_and_counted_in_the_share():
    rng = np.random.default_rng(5)
    before = rng.normal(0, 1, 2000)
    before[:200] = np.nan
    now = rng.normal(0, 1, 1000)
    now[:100] = np.inf
    now[100:400] = np.nan
    reference = reference_of(pd.DataFrame({"x": before}))

    column = drift.compare(
        drift.summarise(pd.DataFrame({"x": now}), reference), reference
    )["columns"]["x"]

    finite_before, finite_now = before[np.isfinite(before)], now[np.isfinite(now)]
    assert column["score"] == pytest.approx(
        exact_normed_wasserstein(finite_before, finite_now), abs=0.01
    )
    assert column["missing_reference"] == pytest.approx(0.1)
    assert column["missing_now"] == pytest.approx(0.4)
    assert column["missing_change"] == pytest.approx(0.3)
    assert column["drifted"] and column["by"] == ["missing"]


def test_a_test_no_longer_run_drifts_by_its_missing_share_without_a_distance():
    reference = reference_of(pd.DataFrame({"x": np.random.default_rng(1).normal(0, 1, 1000)}))

    column = drift.compare(
        drift.summarise(pd.DataFrame({"x": np.full(600, np.nan)}), reference), reference
    )["columns"]["x"]

    assert column["score"] is None
    assert column["drifted"] and column["by"] == ["missing"]


def test_constant_columns_are_marked_and_skipped():
    frame = pd.DataFrame({"same": np.full(800, 3.0), "x": np.arange(800.0)})

    reference = reference_of(frame)
    summary = drift.summarise(frame.assign(same=7.0), reference)

    assert reference["columns"]["same"] == {"missing": 0.0, "kind": "constant", "value": 3.0}
    assert "same" not in summary["columns"]
    assert "same" not in drift.compare(summary, reference)["columns"]


def test_each_threshold_is_the_floor_or_mean_plus_three_sd_of_the_reference_months():
    rng = np.random.default_rng(11)
    # Month to month the mean wanders a lot: the months themselves set a high threshold.
    wandering = np.concatenate([rng.normal(m % 4, 1.0, 600) for m in range(8)])
    steady = rng.normal(0, 1, 4800)
    reference = reference_of(pd.DataFrame({"wandering": wandering, "steady": steady}), 600)

    for name in ("wandering", "steady"):
        column = reference["columns"][name]
        scores = np.array(column["month_scores"])
        assert len(scores) == 8
        assert column["threshold"] == pytest.approx(
            max(0.1, scores.mean() + 3 * scores.std())
        )
    assert reference["columns"]["wandering"]["threshold"] > 1.0
    assert reference["columns"]["steady"]["threshold"] == pytest.approx(0.1)


def test_reference_months_too_small_to_judge_do_not_set_thresholds_and_are_warned_about():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 1500)})

    reference = drift.build_reference(frame, ["2024-01"] * 1000 + ["2024-02"] * 500)

    assert reference["months"] == {"2024-01": 1000, "2024-02": 500}
    assert len(reference["columns"]["x"]["month_scores"]) == 2
    assert "Only 2 training months" in reference["warnings"][0]
    small = drift.build_reference(frame, ["2024-01"] * 1100 + ["2024-02"] * 400)
    assert len(small["columns"]["x"]["month_scores"]) == 1


def test_months_may_be_production_times_keyed_like_the_rows():
    index = pd.Index(["2024-0000002", "2024-0000001"], name="KNR")
    times = pd.Series(
        pd.to_datetime(["2024-01-31 23:00", "2024-02-01 06:00"]),
        index=pd.Index(["2024-0000001", "2024-0000002"]),
    )

    assert drift.month_labels(times, index).tolist() == ["2024-02", "2024-01"]


def test_the_reference_is_json_and_compact():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({f"c{i}": rng.normal(0, 1, 6000) for i in range(20)})

    reference = reference_of(frame, 500)
    text = json.dumps(reference)

    restored = json.loads(text)
    summary = drift.summarise(frame.iloc[:700], restored)
    assert drift.compare(summary, restored) == drift.compare(summary, reference)
    # Bins and month scores per column, whatever the number of rows.
    assert len(text) < 20 * 4000


def test_summaries_of_parts_of_a_month_add_up_to_the_whole():
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 3000), "k": rng.integers(0, 3, 3000) * 1.0})
    reference = reference_of(frame)
    month = pd.DataFrame({"x": rng.normal(2, 3, 900), "k": rng.integers(0, 4, 900) * 1.0})
    month.iloc[::7, 0] = np.nan

    merged = drift.merge_summaries(
        drift.summarise(part, reference) for part in (month.iloc[:200], month.iloc[200:])
    )
    whole = drift.summarise(month, reference)

    assert merged["vehicles"] == whole["vehicles"] == 900
    for name in ("x", "k"):
        for key, value in whole["columns"][name].items():
            assert merged["columns"][name][key] == pytest.approx(value), (name, key)


def test_importances_rank_the_columns_and_a_derived_columns_counts_for_its_source():
    frame = pd.DataFrame({name: np.arange(600.0) % (7 + i) for i, name in enumerate("abcd")})
    reference = reference_of(frame)

    ranked = drift.rank_columns(reference, [["c", 0.2], ["|a|", 0.5], ["a", 0.1]])

    assert ranked["ranking"] == ["a", "c", "b", "d"]
    assert ranked["importance"] == {"a": pytest.approx(0.6), "c": pytest.approx(0.2)}


def judged(drifted, relied: int, vehicles: int = 800, extra: int = 0, weights=None) -> dict:
    """judge_month on a made-up comparison: of `relied` columns with an importance (`weights`,
    equal by default) and `extra` without, those `drifted` names (or the first `drifted`)."""
    names = [f"c{i}" for i in range(relied + extra)]
    weights = weights or [1.0] * relied
    reference = {
        "ranking": names,
        "importance": dict(zip(names[:relied], weights, strict=True)),
    }
    moved = set(drifted) if not isinstance(drifted, int) else set(names[:drifted])
    comparison = {
        "vehicles": vehicles,
        "columns": {name: {"drifted": name in moved} for name in names},
    }
    return drift.judge_month(comparison, reference)


def test_an_alarm_needs_more_drifted_columns_than_chance_explains():
    # Of 50 columns drifting by chance in 1% of months each, 4 or more drift in 0.16% of
    # months, 5 or more in 0.015%: 5 is the alarm count.
    assert drift.chance_of_at_least(4, 50) == pytest.approx(0.0015962, abs=1e-6)
    assert drift.chance_of_at_least(5, 50) == pytest.approx(0.0001457, abs=1e-6)
    assert drift.alarm_count(50) == 5

    assert judged(5, 60)["status"] == drift.ALARM
    assert judged(4, 60)["status"] == drift.NO_ALARM
    assert judged(5, 60)["considered"] == [f"c{i}" for i in range(50)]
    assert judged(5, 60)["alarm_share"] == pytest.approx(5 / 50)


def test_the_alarm_follows_the_order_of_importance_not_the_weights():
    # Two strong columns and one weak drifted of 10: three of ten is the alarm count.
    weights = [0.5, 0.3] + [0.2 / 8] * 8
    assert drift.alarm_count(10) == 3

    assert judged(["c0", "c1", "c9"], 10, weights=weights)["alarm"]
    assert not judged(["c0", "c1"], 10, weights=weights)["alarm"]


def test_columns_the_model_does_not_rely_on_are_not_counted():
    # 3 of the 12 relied-on columns alarm; the 40 without an importance do not dilute them.
    verdict = judged(3, 12, extra=40)

    assert verdict["alarm"]
    assert len(verdict["considered"]) == 12
    assert not judged(2, 12, extra=40)["alarm"]


def test_a_small_model_needs_two_drifted_columns_and_one_column_cannot_alarm_alone():
    assert judged(1, 3)["status"] == drift.NO_ALARM
    assert judged(2, 3)["status"] == drift.ALARM
    # One column drifts by chance in 1% of months: too often for an alarm on it alone.
    assert judged(1, 1)["status"] == drift.NO_ALARM
    assert drift.alarm_count(1) == 2


def test_a_month_under_five_hundred_vehicles_is_too_few_to_judge():
    verdict = judged(50, 50, vehicles=499)

    assert verdict["status"] == drift.TOO_FEW
    assert not verdict["alarm"]
    assert judged(50, 50, vehicles=500)["status"] == drift.ALARM


def test_a_month_missing_a_reference_column_is_refused_by_name():
    reference = reference_of(pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0)}))

    with pytest.raises(ValueError, match="'y'"):
        drift.summarise(pd.DataFrame({"x": np.arange(10.0)}), reference)
