"""Each vehicle on the worklist says why: the test results that raised its risk most, in the
team's words, computed when it is predicted."""

import pytest

from plant.selectors import get_results_frame
from predictions import services
from predictions.capacity import set_inspection_capacity
from predictions.explanations import describe
from predictions.models import Prediction
from training.pipeline.reasons import parse_feature_name, typical_values

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "unit", "reading", "typical", "text"),
    [
        ("value|SECTION_ZP8_00000001#2|2", "Nm", 31.2, 25.8,
         "SECTION_ZP8_00000001 screw 2 torque 31.2 Nm, typical 25.8"),
        ("value|SECTION_TUR_00000004#2|1", "Grad", 50.14, 47.6,
         "SECTION_TUR_00000004 screw 1 angle 50.1 Grad, typical 47.6"),
        ("value|012001#1|1", "kg", 0.995, 0.95, "012001 value 1 0.995 kg, typical 0.950"),
        ("value|042000#718|0", "V", 11.8, 12.6, "042000 voltage 11.8 V, typical 12.6"),
        ("min|SECTION_ZP8_00000001#2", "Nm", 20.1, 24.2,
         "SECTION_ZP8_00000001 lowest screw torque 20.1 Nm, typical 24.2"),
        ("mean|SECTION_ZP5_00000011#2", "Nm", 23.46, 24.2,
         "SECTION_ZP5_00000011 mean screw torque 23.5 Nm, typical 24.2"),
        ("mean|012001#1", "kg", 0.97, 0.95, "012001 mean value 0.970 kg, typical 0.950"),
        ("last_nok|071000#1", "", 1.0, 0.0, "071000 last result NOK, typical OK"),
        ("runs|071000#1", "", 3.0, 1.0, "071000 run 3 times, typical 1"),
        ("n_nok", "", 4.0, 0.0, "NOK results 4, typical 0"),
        ("hour", "", 14.5, 9.25, "first test at 14:30, typical 09:15"),
        ("value|012001#1|1", "kg", float("nan"), 0.95, "012001 value 1 not measured, typical "
         "0.950"),
    ],
)
def test_reasons_read_in_the_teams_words(name, unit, reading, typical, text):
    assert describe(parse_feature_name(name), reading, typical, unit) == text


def test_every_flagged_vehicle_names_the_results_that_raised_its_risk(
    active_models, trained, two_days
):
    set_inspection_capacity(share=0.2)
    services.predict_knrs(knrs=[k for day in two_days.values() for k in day])

    flagged = list(Prediction.objects.filter(predicted_fail=True))
    assert len(flagged) == 8
    fail = trained.models["fail"]["pipeline"]
    typical = typical_values(fail).median
    # The feature rows of the rows crossline stored (the fixture moved their days).
    features = fail[0].transform(get_results_frame([p.knr for p in flagged]))
    for prediction in flagged:
        assert 1 <= len(prediction.explanation) <= 3, prediction.knr
        drops = [reason["risk_drop"] for reason in prediction.explanation]
        assert drops == sorted(drops, reverse=True) and drops[-1] >= 0.01
        for reason in prediction.explanation:
            name = reason["feature"]
            row = features.loc[[prediction.knr]]
            # Independently: the fitted steps' own predict_proba, the input set to the median.
            assert reason["typical"] == pytest.approx(typical[name])
            assert reason["reading"] == pytest.approx(row[name].iloc[0], nan_ok=True)
            lowered = row.copy()
            lowered[name] = typical[name]
            drop = (fail[1:].predict_proba(row)[0, 1] - fail[1:].predict_proba(lowered)[0, 1])
            assert reason["risk_drop"] == pytest.approx(drop, abs=1e-3)
            assert reason["text"].startswith(parse_feature_name(name).test or "")
    unflagged = Prediction.objects.filter(predicted_fail=False)
    assert all(p.explanation == [] for p in unflagged), "explained only when flagged"


def test_a_vehicle_the_inputs_tried_first_do_not_explain_gets_reasons_from_every_input_read(
    active_models, two_days, monkeypatch
):
    from predictions import explanations

    # As for a vehicle whose risk comes from inputs neither among the model's strongest nor
    # far from their median: the first inputs tried explain nothing.
    monkeypatch.setattr(
        explanations, "candidate_inputs", lambda features, *args: [[] for _ in features.index]
    )
    set_inspection_capacity(share=0.2)
    services.predict_knrs(knrs=[k for day in two_days.values() for k in day])

    flagged = list(Prediction.objects.filter(predicted_fail=True))
    assert len(flagged) == 8
    for prediction in flagged:
        assert 1 <= len(prediction.explanation) <= 3, prediction.knr
        drops = [reason["risk_drop"] for reason in prediction.explanation]
        assert drops == sorted(drops, reverse=True) and drops[0] > 0


def test_vehicles_a_larger_capacity_lists_from_their_stored_risk_get_their_reasons(
    active_models, two_days
):
    from predictions.arrivals import flag_again

    set_inspection_capacity(share=0.1)
    services.predict_knrs(knrs=[k for day in two_days.values() for k in day])
    first = {p.knr for p in Prediction.objects.filter(predicted_fail=True)}
    assert len(first) == 4

    set_inspection_capacity(share=0.4)
    flag_again()  # what the worker runs after the change (no vehicle inside its window)
    flagged = list(Prediction.objects.filter(predicted_fail=True))
    assert len(flagged) == 16 and first < {p.knr for p in flagged}
    assert {p.generation for p in flagged} == {1}, "flagged from the stored risk"
    assert all(1 <= len(p.explanation) <= 3 for p in flagged), [
        p.knr for p in flagged if not p.explanation
    ]
    assert all(p.explanation == [] for p in Prediction.objects.filter(predicted_fail=False))
