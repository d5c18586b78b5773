"""Confidence-based performance estimation on synthetic vehicles whose true chance of failing
is known: right where the scores tell, blind where they cannot."""

import json

import numpy as np
import pytest

from mlmodels import estimation

THRESHOLD = 0.45


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def draw(rng, n, *, mean=0.0, label_shift=0.0):
    """Vehicles whose true probability is sigmoid(−1.5 + 1.5 x); the model's score is that
    probability bent (p^0.7, too high: calibration has work to do). `label_shift` changes how
    often vehicles fail without changing anything the model sees."""
    x = rng.normal(mean, 1.0, n)
    score = sigmoid(-1.5 + 1.5 * x) ** 0.7
    y = (rng.random(n) < sigmoid(-1.5 + label_shift + 1.5 * x)).astype(int)
    return y, score


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(3)
    drawn = [draw(rng, 2000) for _ in range(12)]
    y = np.concatenate([d[0] for d in drawn])
    scores = np.concatenate([d[1] for d in drawn])
    months = [f"2024-{m + 1:02d}" for m in range(12) for _ in range(2000)]
    return estimation.build_performance_reference(y, scores, THRESHOLD, months)


def inside(value, band):
    return band["lower"] <= value <= band["upper"]


def test_the_reference_has_a_calibration_and_a_band_per_month(reference):
    assert reference["calibration"] is not None  # the bent scores needed it
    assert [c["label"] for c in reference["chunks"]] == [f"2024-{m:02d}" for m in range(1, 13)]
    precisions = np.array([c["precision"] for c in reference["chunks"]])
    band = reference["band"]["precision"]
    assert band["mean"] == pytest.approx(precisions.mean())
    assert band["upper"] == pytest.approx(precisions.mean() + 3 * precisions.std())
    assert band["lower"] == pytest.approx(precisions.mean() - 3 * precisions.std())
    json.dumps(reference)


def test_unshifted_months_are_estimated_within_the_band_of_their_realised_metrics(reference):
    rng = np.random.default_rng(8)
    for _ in range(6):
        y, scores = draw(rng, 2000)

        estimated = estimation.estimate_month(scores, reference)
        actual = estimation.realised(y, scores, THRESHOLD)

        assert estimated["status"] == estimation.NO_ALARM
        for metric in estimation.METRICS:
            band = reference["band"][metric]
            assert inside(estimated["estimate"][metric], band), metric
            assert inside(actual[metric], band), metric
            # The estimate is closer to the month's truth than the band is wide.
            assert abs(estimated["estimate"][metric] - actual[metric]) < 3 * band["std"]


def test_the_calibration_is_what_makes_the_estimate_right(reference):
    rng = np.random.default_rng(9)
    y, scores = draw(rng, 20_000)
    uncalibrated = {**reference, "calibration": None}

    right = estimation.estimate_month(scores, reference)["estimate"]["precision"]
    wrong = estimation.estimate_month(scores, uncalibrated)["estimate"]["precision"]

    actual = estimation.realised(y, scores, THRESHOLD)["precision"]
    assert abs(right - actual) < 0.02
    assert abs(wrong - actual) > 0.05


def test_a_covariate_shift_the_model_scores_is_estimated_and_alarms(reference):
    rng = np.random.default_rng(10)
    y, scores = draw(rng, 2000, mean=0.8)

    estimated = estimation.estimate_month(scores, reference)
    actual = estimation.realised(y, scores, THRESHOLD)

    assert estimated["alarm"]
    assert set(estimated["outside_band"]) == {"precision", "recall", "flagged_share"}
    for metric in ("precision", "recall"):
        assert estimated["estimate"][metric] == pytest.approx(actual[metric], abs=0.04)


def test_a_label_shift_the_scores_do_not_see_is_not_detected(reference):
    """The documented limit of CBPE: more vehicles fail for a reason the model cannot see;
    the realised precision leaves the band, the estimate stays where it was."""
    rng = np.random.default_rng(11)
    y, scores = draw(rng, 2000, label_shift=1.0)

    estimated = estimation.estimate_month(scores, reference)
    actual = estimation.realised(y, scores, THRESHOLD)

    assert not inside(actual["precision"], reference["band"]["precision"])
    assert not estimated["alarm"]
    assert inside(estimated["estimate"]["precision"], reference["band"]["precision"])


def test_the_expected_confusion_matrix_counts_each_vehicle_right_with_one_minus_the_gap():
    # Two references' worth of calibrated scores: calibration is the identity here.
    reference = {
        "threshold": 0.5,
        "calibration": {"x": [0.0, 1.0], "y": [0.0, 1.0]},
        "band": {metric: None for metric in estimation.METRICS},
    }
    scores = np.array([0.9, 0.6, 0.4, 0.1] * 200)

    estimated = estimation.estimate_month(scores, reference)

    (tn, fp), (fn, tp) = estimated["expected_confusion_matrix"]
    assert tp == pytest.approx(200 * (0.9 + 0.6))
    assert fp == pytest.approx(200 * (0.1 + 0.4))
    assert fn == pytest.approx(200 * (0.4 + 0.1))
    assert tn == pytest.approx(200 * (0.6 + 0.9))
    assert estimated["estimate"]["precision"] == pytest.approx(0.75)
    assert estimated["estimate"]["recall"] == pytest.approx(1.5 / 2.0)
    assert estimated["estimate"]["flagged_share"] == 0.5
    assert estimated["status"] == estimation.NO_ALARM  # no band: nothing to leave


def test_a_month_under_five_hundred_vehicles_is_too_few_to_judge(reference):
    y, scores = draw(np.random.default_rng(12), 499, mean=2.0)

    estimated = estimation.estimate_month(scores, reference)

    assert estimated["status"] == estimation.TOO_FEW
    assert estimated["outside_band"]  # far off, still not an alarm
    assert not estimated["alarm"]


def test_without_enough_months_the_reference_is_cut_into_ten_parts():
    rng = np.random.default_rng(13)
    y, scores = draw(rng, 3000)
    months = ["2024-01"] * 1500 + ["2024-02"] * 1500

    built = estimation.build_performance_reference(y, scores, THRESHOLD, months)

    assert [c["label"] for c in built["chunks"]] == [f"part {i}" for i in range(1, 11)]
    assert sum(c["vehicles"] for c in built["chunks"]) == 3000
    assert built["warnings"] == []


def test_realised_metrics_sit_beside_the_estimate_with_their_difference(reference):
    y, scores = draw(np.random.default_rng(14), 2000)
    estimated = estimation.estimate_month(scores, reference)

    compared = estimation.compare_with_realised(estimated, y, scores, THRESHOLD)

    for metric in estimation.METRICS:
        assert compared["difference"][metric] == pytest.approx(
            compared["realised"][metric] - estimated["estimate"][metric]
        )
    assert compared["difference"]["flagged_share"] == pytest.approx(0.0)


def test_calibration_is_fitted_only_where_it_can_help():
    rng = np.random.default_rng(15)
    p = sigmoid(-1.0 + 2.0 * rng.normal(0, 1, 5000))
    y = (rng.random(len(p)) < p).astype(int)

    assert estimation.needs_calibration(y, p**0.5)
    # One class only, or scores that already separate the classes: nothing to learn.
    assert not estimation.needs_calibration(np.zeros(5000, dtype=int), p)
    assert not estimation.needs_calibration(y, y * 0.5 + 0.25)
    unneeded = estimation.build_performance_reference(y, y * 0.5 + 0.25, 0.5)
    assert unneeded["calibration"] is None
    assert estimation.calibrate(np.array([0.25, 0.75, 1.2]), unneeded).tolist() == [0.25, 0.75, 1.0]


def rare_reference(std: float = 0.01) -> dict:
    """A rare kind's reference: recall 0.35 in every reference month, by chance within 0.01."""
    band = {"mean": 0.35, "std": std, "lower": 0.35 - 3 * std, "upper": 0.35 + 3 * std}
    return {
        "threshold": 0.5,
        "calibration": {"x": [0.0, 1.0], "y": [0.0, 1.0]},
        "band": {"precision": None, "recall": band, "flagged_share": None},
    }


def month_of(recall_share: float, vehicles: int = 3000, positives: int = 30) -> np.ndarray:
    """Calibrated scores of a month with `positives` expected positives, `recall_share` of
    them expected among the flagged vehicles (score 0.9 flagged, 0.1 not)."""
    flagged = round(positives * recall_share / 0.9)
    unflagged = round((positives - flagged * 0.9) / 0.1) if positives > flagged * 0.9 else 0
    return np.array([0.9] * flagged + [0.1] * unflagged + [0.0] * (vehicles - flagged - unflagged))


def test_a_month_with_few_positives_is_judged_by_a_band_widened_by_its_counts():
    # 30 expected positives: a recall is uncertain by √(0.35 × 0.65 / 30) = 0.087 from counts
    # alone, far more than the reference months' 0.01; 0.42 is within 3 of those.
    estimated = estimation.estimate_month(month_of(0.42), rare_reference())

    assert estimated["estimate"]["recall"] == pytest.approx(0.42, abs=0.02)
    band = estimated["band"]["recall"]
    assert band["count"] == pytest.approx(30, abs=1)
    spread = 3 * (0.01**2 + 0.35 * 0.65 / band["count"]) ** 0.5
    assert band["lower"] == pytest.approx(0.35 - spread)
    assert band["upper"] == pytest.approx(0.35 + spread)
    assert estimated["status"] == estimation.NO_ALARM
    # The reference months' band alone would have alarmed.
    assert not inside(estimated["estimate"]["recall"], rare_reference()["band"]["recall"])


def test_a_real_drop_still_alarms_and_many_positives_keep_the_band_narrow():
    dropped = estimation.estimate_month(month_of(0.05), rare_reference())

    assert dropped["alarm"] and dropped["outside_band"] == ["recall"]
    # With 3,000 expected positives the counts add little: 0.42 is outside again.
    many = estimation.estimate_month(month_of(0.42, vehicles=30_000, positives=3000),
                                     rare_reference())
    assert many["band"]["recall"]["upper"] < 0.42
    assert many["alarm"]
