"""A prediction's representation is DRF's own, field for field, with its fields built once."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rest_framework import serializers

from predictions.capacity import get_label_window_days
from predictions.models import Prediction
from predictions.serializers import BatchStartedSerializer, PredictionSerializer

PLANT = ZoneInfo("America/Sao_Paulo")
REASON = {
    "feature": "value|SECTION_ZP8_00000001#2|2", "test": "SECTION_ZP8_00000001",
    "value_id": "2", "unit": "Nm", "reading": 31.2, "typical": 25.8, "risk_drop": 0.1247,
    "text": "SECTION_ZP8_00000001 screw 2 torque 31.2 Nm, typical 25.8",
}


def predictions() -> list[Prediction]:
    """Predictions in every state the fields render differently: no fail model, unflagged,
    flagged with reasons (a reading not measured), feedback known, by hand or still waiting."""
    now = datetime(2024, 5, 16, 13, 21, 3, 250_000, tzinfo=ZoneInfo("UTC"))
    common = {"model_versions": {"fail": "fail-v3", "group_2": "group_2-v1"}, "created_at": now}
    return [
        Prediction(knr="2024-0000001", p_fail=None, risk=0.25, predicted_fail=False,
                   probabilities={"2": 0.25}, no_model_groups=[1, 4], produced_at=None,
                   **common),
        Prediction(knr="2024-0000002", p_fail=0.812345, risk=0.812345, predicted_fail=True,
                   flagged_by=["fail", "group_2"], probabilities={"2": 0.7, "4": 0.0},
                   predicted_fail_codes=[2], indicated_tests=["ROAD_TEST", "WATER"],
                   explanation=[REASON, {**REASON, "reading": None, "text": "not measured"}],
                   produced_at=now - timedelta(days=2), **common),
        Prediction(knr="2024-0000003", p_fail=0.1, risk=0.1, predicted_fail=False,
                   probabilities={}, real_fail_codes=[4, 2], feedback_at=now.astimezone(PLANT),
                   produced_at=now - timedelta(days=40), **common),
        Prediction(knr="2024-0000004", p_fail=0.0, risk=0.0, predicted_fail=False,
                   probabilities={"2": 0.0}, real_fail_codes=[], produced_at=now, **common),
    ]


def drf_own(serializer: PredictionSerializer, prediction: Prediction) -> dict:
    """What DRF's Serializer.to_representation gives, from the serializer's own fields."""
    return serializers.ModelSerializer.to_representation(serializer, prediction)


@pytest.mark.django_db
def test_every_field_renders_as_drf_s_own_representation():
    for prediction in predictions():
        serializer = PredictionSerializer(prediction)
        fast = serializer.data
        own = drf_own(PredictionSerializer(prediction), prediction)

        assert json.dumps(fast) == json.dumps(own)  # the same keys, in the same order
        assert list(fast) == list(PredictionSerializer().fields)


@pytest.mark.django_db
def test_a_list_and_a_started_batch_render_their_predictions_alike():
    every = predictions()
    listed = PredictionSerializer(every, many=True).data
    context = {"label_window_days": get_label_window_days()}
    own = [drf_own(PredictionSerializer(context=context), p) for p in every]
    nested = BatchStartedSerializer().fields["predictions"].to_representation(every)

    assert json.dumps(listed) == json.dumps(own) == json.dumps(nested)
    assert listed[1]["explanation"][1]["reading"] is None
    assert listed[2]["feedback"] == "defect" and listed[3]["feedback"] == "no_defect"
