"""A client generated from crossline's live schema works as generated.

`openapi-python-client` (pinned in requirements-test.txt; it needs no network) generates a
client from `/api/schema/`, fetched without a token as a generator would; every module of it
imports, and the team's flow runs through it with typed answers: token, upload, retrain and
wait, compare versions, set as active with a reason, predict, set the inspection capacity and
read the worklist. No field the flow reads is typed `Any`, and every value is of its declared type.
"""

import datetime
import importlib
import time

import pytest

from plant.demo import generate_demo_data
from tests.support.generated_client import (
    PACKAGE,
    fetch_schema,
    generate_client,
    import_every_module,
    typed,
    typed_problems,
)
from tests.support.live_server import ADMIN_PASSWORD, running_crossline


def test_the_typing_check_finds_any_and_wrong_values(tmp_path, client_package):
    # A tiny generated client: one map of Any, one integer field given a string.
    schema = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {
            "Loose": {"type": "object", "properties": {"x": {}}, "required": ["x"]},
            "Count": {"type": "object", "properties": {"n": {"type": "integer"}},
                      "required": ["n"]},
        }},
    }
    generate_client(schema, tmp_path)
    models = importlib.import_module(f"{PACKAGE}.models")
    problems: list[str] = []
    typed_problems(models.Loose(x=1), "loose", problems)
    typed_problems(models.Count(n="3"), "count", problems)
    assert problems == ["loose.x: typed Any", "count.n: '3' is not int"]


# --- the flow ------------------------------------------------------------------------------------


def wait_for_worklist(api, client, since: datetime.date, timeout: float = 120):
    """The worklist of every production day from `since`, once each day lists as many
    vehicles as the capacity allows (the new capacity flags the days again in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        worklist = api.worklist.worklist_retrieve.sync(
            client=client, date=since, to=datetime.date.today()
        )
        if worklist.days and all(day.listed == day.allowed for day in worklist.days):
            return worklist
        assert time.monotonic() < deadline, [
            (day.date, day.listed, day.allowed) for day in worklist.days
        ]
        time.sleep(2)


def wait_for_run(api, client, run_id: str, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.training_runs.training_runs_retrieve.sync(id=run_id, client=client)
        if run.status.value in ("succeeded", "failed"):
            return run
        time.sleep(2)
    raise AssertionError(f"training run {run_id} not finished within {timeout} s")


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.sqlite_only(
    reason="the client speaks HTTP, the same on either database; the contract test covers "
    "every route on MongoDB, where this flow's set-up and two trainings take minutes more"
)
def test_a_generated_client_imports_and_runs_the_teams_flow_with_typed_answers(
    tmp_path, client_package
):
    fresh = generate_demo_data(knrs=200, out_dir=tmp_path / "fresh", seed=7)
    # 200 demo vehicles are too few for the production gate and training minimum: lowered so
    # that the kinds train and may be set as active, as on real data.
    small = {
        "CROSSLINE_MIN_POSITIVES": "10",
        "CROSSLINE_GATE_MIN_POSITIVES": "5",
        "CROSSLINE_GATE_MIN_LIFT": "1.0",
    }
    with running_crossline(tmp_path / "live", demo_knrs=200, worker=True, env=small) as live:
        schema = fetch_schema(live.url)
        generate_client(schema, tmp_path)
        assert import_every_module() == {}

        import crossline_client.api as api
        from crossline_client import AuthenticatedClient, Client, models
        from crossline_client.types import File

        anonymous = Client(base_url=live.url, raise_on_unexpected_status=True)
        token = api.auth.auth_token_create.sync(
            client=anonymous,
            body=models.CredentialsRequest(username="admin", password=ADMIN_PASSWORD),
        )
        typed(token, models.Token, "token")
        client = AuthenticatedClient(
            base_url=live.url, token=token.token, prefix="Token", raise_on_unexpected_status=True
        )

        with fresh["defects"].open("rb") as handle:
            dataset = api.datasets.datasets_create.sync(
                client=client,
                body=models.DatasetUploadRequest(
                    kind=models.DatasetKindEnum.DEFECTS,
                    file=File(payload=handle, file_name="defects.csv"),
                ),
            )
        typed(dataset, models.Dataset, "dataset")
        assert dataset.report.rows_read > 0

        started = api.train.train_retrain_create.sync(
            client=client, body=models.TrainRequestRequest(pipeline="default")
        )
        typed(started, models.TrainingRun, "retrain")
        run = typed(wait_for_run(api, client, started.id), models.TrainingRun, "run")
        assert run.status == models.RunStatusEnum.SUCCEEDED, run.error
        kinds = run.comparison.kinds.additional_properties
        assert "fail" in kinds
        fail = kinds["fail"]

        compared = api.models.models_compare_retrieve.sync(
            client=client, ids=",".join(filter(None, [fail.new_model, fail.last_model]))
        )
        typed(compared, models.VersionComparison, "comparison")
        assert compared.type_model == "fail"
        [new] = [v for v in compared.versions if v.model_name == fail.new_model]
        assert new.metrics.pr_auc == pytest.approx(fail.new_model_metrics.pr_auc)

        version = api.models.models_retrieve.sync(id=new.id, client=client)
        typed(version, models.ModelVersion, "version")
        activated = api.models.models_set_active_create.sync(
            id=new.id,
            client=client,
            body=models.SetActiveRequest(
                override=not version.eligible, reason="monthly retrain, through the client"
            ),
        )
        typed(activated, models.SetActiveResult, "set active")
        assert activated.using is True
        history = api.models.models_activations_list.sync(client=client, type_model="fail")
        typed(history, models.PaginatedActivationList, "activations")
        assert history.results[0].reason == "monthly retrain, through the client"

        vehicles = api.vehicles.vehicles_list.sync(
            client=client, ordering=models.VehiclesListOrdering("-first_test_at")
        )
        typed(vehicles, models.PaginatedVehicleList, "vehicles")
        knr = vehicles.results[0].knr
        prediction = api.predictions.predictions_create.sync(
            client=client, body=models.PredictRequestRequest(knr=knr)
        )
        typed(prediction, models.Prediction, "prediction")
        assert prediction.model_versions.additional_properties["fail"] == fail.new_model
        assert set(prediction.probabilities.additional_properties) >= {
            str(code) for code in prediction.predicted_fail_codes
        }

        # The worklist: a capacity of 20% set through the client flags every production day
        # again (in the background); then each day lists its top fifth by risk, each vehicle
        # with the test results that raised its risk.
        capacity = api.worklist.inspection_capacity_update.sync(
            client=client, body=models.InspectionCapacityRequest(share=0.2)
        )
        typed(capacity, models.InspectionCapacity, "capacity")
        assert capacity.share == 0.2
        assert capacity.description == "20% of each production day's vehicles"
        worklist = wait_for_worklist(api, client, since=datetime.date(2000, 1, 1))
        typed(worklist, models.Worklist, "worklist")
        assert worklist.capacity == capacity.description
        assert sum(day.vehicles for day in worklist.days) >= 200
        assert all(day.allowed == int(day.vehicles * 0.2) for day in worklist.days)
        assert len(worklist.vehicles) == sum(day.listed for day in worklist.days) > 0
        assert [v.rank for v in worklist.vehicles] == list(range(1, len(worklist.vehicles) + 1))
        risks = [v.risk for v in worklist.vehicles]
        assert risks == sorted(risks, reverse=True)
        assert all(v.reasons and v.reasons[0].text for v in worklist.vehicles), [
            v.knr for v in worklist.vehicles if not v.reasons
        ]
        # The vehicle predicted above is on its day's list exactly when it is flagged.
        prediction = api.predictions.predictions_retrieve.sync(knr=knr, client=client)
        typed(prediction, models.Prediction, "prediction after the capacity")
        day = api.worklist.worklist_retrieve.sync(
            client=client, date=prediction.produced_at.date()
        )
        typed(day, models.Worklist, "the vehicle's day")
        assert (knr in {v.knr for v in day.vehicles}) == prediction.predicted_fail
