"""The activation gate's bar: a lift over the prevalence on the odds scale."""

import pytest

from mlmodels.gate import check_eligibility, needed_pr_auc


@pytest.mark.parametrize(
    ("prevalence", "needed"),
    [(0.01, 0.01493), (0.1, 0.14286), (0.35, 0.44681), (0.52, 0.61905), (1.0, 1.0)],
)
def test_the_bar_is_the_pr_auc_whose_odds_are_the_lift_times_the_prevalences(
    prevalence, needed
):
    assert needed_pr_auc(prevalence, 1.5) == pytest.approx(needed, abs=1e-5)
    assert needed_pr_auc(prevalence, 1.0) == pytest.approx(prevalence)


def test_a_common_kind_can_clear_the_gate_that_a_plain_lift_would_close():
    # Half the vehicles fail: 1.5 × 0.52 = 0.78 is above what the true probabilities reached
    # on generated data (0.756); the odds bar (0.619) is not.
    judged = dict(positives=520, vehicles=1000, min_positives=30, min_lift=1.5)
    assert check_eligibility(pr_auc=0.756, **judged).eligible
    below = check_eligibility(pr_auc=0.60, **judged)
    assert not below.eligible
    assert below.reason == "PR-AUC 0.600 below 0.619 (odds 1.5× those of the prevalence 0.520)"


def test_a_rare_kind_needs_about_the_lift_times_its_prevalence():
    judged = dict(positives=40, vehicles=1000, min_positives=30, min_lift=1.5)
    assert not check_eligibility(pr_auc=0.058, **judged).eligible
    assert check_eligibility(pr_auc=0.059, **judged).eligible
