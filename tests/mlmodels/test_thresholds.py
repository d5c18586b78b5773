"""Threshold policies and metrics at a threshold: pure functions on small known arrays."""

import numpy as np
import pytest

from mlmodels.thresholds import (
    choose_threshold,
    decode_scores,
    encode_scores,
    metrics_at_threshold,
)

# Ten vehicles, best score first; positives at ranks 1, 2, 4 and 7.
SCORES = [0.95, 0.90, 0.80, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20, 0.10]
Y_TRUE = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]


def fbeta(y, s, t, beta=2.0):
    m = metrics_at_threshold(y, s, t)
    p, r = m["precision"], m["recall"]
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def test_f2_picks_the_threshold_with_the_best_f2_among_the_cuts_it_may_take():
    chosen = choose_threshold(Y_TRUE, SCORES, policy="f2")

    # 4 positives of 10: at most 5 flagged (odds twice 0.4's: 0.57 of 10). Unbounded, F2 would
    # cut at 0.40 (every positive, 7 flagged, F2 = 20/23); within the bound 0.70 is best.
    best = max(fbeta(Y_TRUE, SCORES, t) for t in SCORES[:5])
    assert fbeta(Y_TRUE, SCORES, chosen) == pytest.approx(best)
    assert chosen == 0.70


def test_f2_favours_recall_more_than_f1_would():
    scores = [1 - i / 20 for i in range(20)]
    y = [1 if i in (0, 1, 4) else 0 for i in range(20)]

    f2 = choose_threshold(y, scores, policy="f2")

    f1_best = max(scores, key=lambda t: (metrics_at_threshold(y, scores, t)["f1_score"], t))
    assert metrics_at_threshold(y, scores, f1_best)["recall"] == pytest.approx(2 / 3)
    assert metrics_at_threshold(y, scores, f2)["recall"] == 1.0


def test_capacity_flags_no_more_than_the_share_the_team_can_inspect():
    chosen = choose_threshold(Y_TRUE, SCORES, policy="capacity", value=0.3)

    assert chosen == 0.80
    assert metrics_at_threshold(Y_TRUE, SCORES, chosen)["flagged_share"] == pytest.approx(0.3)


def test_capacity_never_exceeds_the_share_with_tied_scores():
    scores = [0.9, 0.5, 0.5, 0.5, 0.1]
    chosen = choose_threshold([1, 0, 1, 0, 0], scores, policy="capacity", value=0.4)
    # Taking the tie at 0.5 would flag 4 of 5 (80%): only the 0.9 vehicle fits in 40%.
    assert chosen == 0.9


def test_capacity_below_one_vehicle_flags_nothing():
    chosen = choose_threshold(Y_TRUE, SCORES, policy="capacity", value=0.05)
    assert metrics_at_threshold(Y_TRUE, SCORES, chosen)["flagged_share"] == 0.0


def test_recall_target_takes_the_highest_threshold_reaching_it():
    assert choose_threshold(Y_TRUE, SCORES, policy="recall", value=0.5) == 0.90
    assert choose_threshold(Y_TRUE, SCORES, policy="recall", value=0.75) == 0.70
    assert choose_threshold(Y_TRUE, SCORES, policy="recall", value=1.0) == 0.40


def test_without_positives_the_score_policies_flag_nothing():
    chosen = choose_threshold([0] * 10, SCORES, policy="f2")
    assert metrics_at_threshold([0] * 10, SCORES, chosen)["flagged_share"] == 0.0


@pytest.mark.parametrize(
    ("policy", "value"),
    [("f2", 0.5), ("capacity", None), ("capacity", 0.0), ("recall", 1.5), ("top-k", 3)],
)
def test_bad_policies_and_values_are_refused(policy, value):
    with pytest.raises(ValueError, match=policy if policy == "top-k" else "policy"):
        choose_threshold(Y_TRUE, SCORES, policy=policy, value=value)


def test_metrics_at_a_threshold_count_the_confusion_matrix():
    metrics = metrics_at_threshold(Y_TRUE, SCORES, 0.70)

    assert metrics["confusion_matrix"] == [[5, 1], [1, 3]]
    assert metrics["precision"] == pytest.approx(3 / 4)
    assert metrics["recall"] == pytest.approx(3 / 4)
    assert metrics["f1_score"] == pytest.approx(3 / 4)
    assert metrics["flagged_share"] == pytest.approx(0.4)
    assert metrics["accuracy"] == pytest.approx(0.8)
    # MCC = (3·5 − 1·1) / sqrt(4·4·6·6)
    assert metrics["mcc"] == pytest.approx(14 / 24)
    assert metrics["support"] == {"positives": 4, "negatives": 6}


def test_scores_round_trip_exactly_through_their_compact_encoding():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=20_001)
    s = rng.random(size=20_001)

    encoded = encode_scores(y, s)
    y_back, s_back = decode_scores(encoded)

    assert np.array_equal(y_back, y)
    assert np.array_equal(s_back, s)
    assert len(encoded["scores"]) + len(encoded["y_true"]) < 20_001 * 12


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 values but scores has 3"):
        choose_threshold([1, 0], [0.1, 0.2, 0.3])


def test_f2_never_flags_more_than_about_twice_the_prevalence_or_ten_percent():
    # A weak model: 10 positives among 100 vehicles, spread over the ranking. Unbounded, F2 is
    # best when flagging 96 of them (every positive); bounded, at most 18 (odds twice 0.1's:
    # 0.18).
    scores = [1 - i / 100 for i in range(100)]
    y = [1 if i in (10, 17, 30, 40, 50, 60, 70, 80, 90, 95) else 0 for i in range(100)]

    chosen = choose_threshold(y, scores, policy="f2")

    assert metrics_at_threshold(y, scores, chosen)["flagged_share"] == pytest.approx(0.18)
    assert chosen == scores[17]


def test_f2_flags_at_most_about_two_thirds_when_half_the_vehicles_fail():
    # Scores that cannot tell: unbounded, F2 flags everyone (recall 1, precision 0.5).
    y = [1, 0] * 50
    scores = [1 - i / 100 for i in range(100)]

    chosen = choose_threshold(y, scores, policy="f2")

    assert metrics_at_threshold(y, scores, chosen)["flagged_share"] <= 2 / 3
