"""On a running crossline (web server and worker cluster, as `make run` starts them): results for
new vehicles uploaded through the API are predicted within two minutes, no batch started."""

import time

import pandas as pd
import pytest

from plant.demo import generate_demo_data
from tests.plant.test_live_import import get, upload, wait_for
from tests.support.live_server import running_crossline

pytestmark = [pytest.mark.live, pytest.mark.slow]

NEW_VEHICLES = 200
DEMO_VEHICLES = 300  # what bootstrap imports and trains the first models on
LIMIT_SECONDS = 120


def test_uploaded_vehicles_are_predicted_as_they_arrive(tmp_path):
    # New vehicles: KNRs above the demo's, the plant's export format.
    files = generate_demo_data(
        knrs=NEW_VEHICLES, out_dir=tmp_path / "new", seed=8, first_knr_number=6_000_001
    )
    knrs = sorted(pd.read_csv(files["truth"], dtype=str)["KNR"])
    assert len(knrs) == NEW_VEHICLES

    with running_crossline(tmp_path, demo_knrs=DEMO_VEHICLES, worker=True) as live:
        token = live.token()
        started = time.monotonic()
        status, _, dataset = upload(live, token, files["results"], "results")
        assert status == 201, dataset

        def predicted():
            body = get(live, token, f"/api/datasets/{dataset['id']}/")
            assert not body["predictions"].startswith(("not predicted", "prediction failed")), body
            return body if body["predicted_count"] is not None else None

        done = wait_for(predicted, timeout=LIMIT_SECONDS, every=0.5,
                        what="the uploaded vehicles' predictions")
        elapsed = time.monotonic() - started
        assert (done["predictions"], done["predicted_count"]) == (
            f"{NEW_VEHICLES} vehicles predicted", NEW_VEHICLES
        )
        headers = {"Authorization": f"Token {token}"}
        answers = {knr: live.get_json(f"/api/predictions/{knr}/", headers=headers)[0]
                   for knr in knrs}
        assert set(answers.values()) == {200}, {k: s for k, s in answers.items() if s != 200}
        assert get(live, token, "/api/predictions/batches/")["count"] == 0, "no batch started"
    print(f"{NEW_VEHICLES} uploaded vehicles predicted {elapsed:.1f} s after the upload began")
