"""The admin under a threaded server: every page is its own request's, whatever runs beside it.

waitress serves crossline with several threads, and one ModelAdmin instance serves all of
them: what a page shows must come from its own request, never from state another request left
on a shared object.
"""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client

from crossline.domain import FAIL_GROUPS, frame_codes, group_kind
from mlmodels.models import ModelVersion
from plant.models import Dataset, FailGroup, Vehicle
from predictions.models import Prediction
from training.models import TrainingRun

THREADS = 8
CODES = list(FAIL_GROUPS)  # one fail group per thread
DOORS = 4
# What the renaming thread flips the doors group between while the pages render.
DOOR_NAMES = ("Doors east", "Doors west")


def knr(i: int) -> str:
    return f"2024-{3000000 + i:07d}"


@pytest.fixture
def plant_data(transactional_db):
    """Each thread's rows: vehicles of its own fail group, a dataset, a prediction, a model
    version and a training run it alone asks for (committed: the threads have connections of
    their own). Every vehicle and prediction names the doors group too, on every row."""
    for i, code in enumerate(CODES):
        for j in range(3):
            number = 10 * i + j
            Vehicle.objects.create(knr=knr(number), fail_group_codes=frame_codes([code, DOORS]),
                                   has_defects=True)
        Dataset.objects.create(kind="results", original_name=f"export-{i}.csv", size_bytes=1,
                               sha256=f"{i:064d}", status=Dataset.Status.READY)
        Prediction.objects.create(knr=knr(10 * i), p_fail=0.5, predicted_fail=True,
                                  flagged_by=[group_kind(DOORS)], real_fail_codes=[DOORS],
                                  created_at="2024-06-01T00:00:00Z")
        ModelVersion.objects.create(type_model=group_kind(code),
                                    model_name=f"{group_kind(code)}-v1", version=1,
                                    artifact_path="unused", artifact_sha256="0" * 64,
                                    threshold=0.5)
        TrainingRun.objects.create(pipeline_name=f"pipeline-{i}")
    FailGroup.objects.update_or_create(code=DOORS, defaults={"name": DOOR_NAMES[0]})


def pages(i: int) -> dict[str, tuple[str, str, set[str]]]:
    """Thread i's changelists: URL, the pattern of a row's label, the rows it must list."""
    code = CODES[i]
    # Every vehicle is in the doors group: that thread lists them all.
    owners = range(THREADS) if code == DOORS else [i]
    return {
        "vehicles": (f"/admin/plant/vehicle/?fail_group={code}",
                     r'class="field-knr"><a [^>]*>([^<]+)</a>',
                     {knr(10 * owner + j) for owner in owners for j in range(3)}),
        "datasets": (f"/admin/plant/dataset/?q=export-{i}.csv",
                     r'class="field-original_name"><a [^>]*>([^<]+)</a>', {f"export-{i}.csv"}),
        "predictions": (f"/admin/predictions/prediction/?q={knr(10 * i)}",
                        r'/admin/plant/vehicle/knr/[^/]+/">([^<]+)</a>', {knr(10 * i)}),
        "versions": (f"/admin/mlmodels/modelversion/?type_model={group_kind(code)}",
                     r'class="field-model_name"><a [^>]*>([^<]+)</a>',
                     {f"{group_kind(code)}-v1"}),
        "runs": (f"/admin/training/trainingrun/?pipeline_name=pipeline-{i}",
                 r'class="field-pipeline_name">([^<]+)</td>', {f"pipeline-{i}"}),
    }


def render(user, i: int) -> list[str]:
    """Thread i renders its changelists with its own client; what is wrong with each page."""
    client = Client()
    client.force_login(user)
    problems = []
    try:
        for name, (url, row, expected) in pages(i).items():
            response = client.get(url)
            page = response.content.decode()
            shown = set(re.findall(row, page))
            if response.status_code != 200 or shown != expected:
                problems.append(f"thread {i} {name}: {response.status_code}, rows {shown}")
            # One read of the names per page: the doors group is named one way throughout.
            doors = set(re.findall(rf"{DOORS} (Doors \w+)", page))
            if len(doors) > 1:
                problems.append(f"thread {i} {name}: the doors group named {doors} at once")
    finally:
        connections.close_all()
    return problems


def test_changelists_rendered_from_eight_threads_at_once_each_show_their_own_rows(
    plant_data, django_user_model
):
    user = django_user_model.objects.create_superuser("admin", "", "a-long-test-password")
    done = threading.Event()

    def rename() -> int:
        flips = 0
        try:
            while not done.is_set():
                flips += 1
                FailGroup.objects.filter(code=DOORS).update(name=DOOR_NAMES[flips % 2])
        finally:
            connections.close_all()
        return flips

    with ThreadPoolExecutor(max_workers=THREADS + 1) as pool:
        renamer = pool.submit(rename)
        barrier = threading.Barrier(THREADS)

        def start_together(i: int) -> list[str]:
            barrier.wait()
            return render(user, i)

        results = list(pool.map(start_together, range(THREADS)))
        done.set()
        assert renamer.result() > 1

    assert [problem for problems in results for problem in problems] == []
