"""The bench's worlds: plant exports the product imports, truth that is a probability, the same
files for the same seed, labels drawn from the truth, and defects that arise as each world says."""

import gzip
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from bench.worlds.registry import WORLDS
from plant.demo import generate_demo_data
from plant.models import Dataset

NEW_WORLDS = ("small_deviations", "interactions")
UNLABELLED = ("-2", "#MULTIVALUE")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo_data(knrs=20, out_dir=tmp_path_factory.mktemp("demo"), seed=3)


@pytest.fixture(scope="module", params=NEW_WORLDS)
def small(request, tmp_path_factory):
    """A few hundred vehicles of each new world."""
    out = tmp_path_factory.mktemp(request.param)
    return request.param, WORLDS[request.param](knrs=300, out_dir=out, seed=13)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A few thousand vehicles of a world, generated once: (paths, truth, labels)."""
    made = {}

    def world(name):
        if name not in made:
            out = tmp_path_factory.mktemp(name)
            made[name] = with_labels(WORLDS[name](knrs=3000, out_dir=out, seed=17))
        return made[name]

    return world


@pytest.fixture(params=NEW_WORLDS)
def large(request, generated):
    return generated(request.param)


def with_labels(paths):
    """(paths, truth, labels): each vehicle's 0/1 label per truth column."""
    truth = pd.read_csv(paths["truth"], dtype={"KNR": str}).set_index("KNR")
    defects = pd.read_csv(paths["defects"], dtype=str, keep_default_na=False)
    codes = pd.to_numeric(defects["S_GROUP_ID"], errors="coerce")
    labels = pd.DataFrame(index=truth.index)
    for column in truth.columns.drop("p_fail"):
        failed = defects["KNR"][codes == int(column.removeprefix("p_"))]
        labels[column] = truth.index.isin(failed).astype(int)
    labels["p_fail"] = labels.max(axis=1)
    return paths, truth, labels


def values(paths) -> pd.DataFrame:
    """The result rows with VALUE as a number (decimal commas read, garbage missing)."""
    rows = pd.read_csv(paths["results"], dtype=str, keep_default_na=False)
    text = rows["VALUE"].str.strip().str.replace(",", ".")
    return rows.assign(number=pd.to_numeric(text, errors="coerce"))


def test_files_have_the_demo_columns_and_the_plant_quirks(small, demo):
    _, paths = small
    with gzip.open(paths["results"], "rt") as new, gzip.open(demo["results"], "rt") as old:
        assert new.readline() == old.readline() == ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
    assert paths["defects"].open().readline() == demo["defects"].open().readline()
    assert paths["truth"].open().readline() == demo["truth"].open().readline()

    rows = pd.read_csv(paths["results"], dtype=str, keep_default_na=False)
    assert rows["UNIT"].isin(["Nm        ", "          ", ""]).sum() > 0
    assert rows["UNIT"].str.len().isin([0, 10]).all()
    assert rows["VALUE"].str.contains(",").any() and rows["DATA"].str.endswith(".000").any()
    assert set(rows["ID"]) == {"1", "2", "718"} and set(rows["STATUS"]) == {"10", "13"}
    # Screw sections: several sub-results (one per screw) under one test.
    assert rows.groupby("NAME")["VALUE_ID"].nunique().max() >= 3
    text = paths["defects"].read_text()
    assert ',2,"' in text and ',"2","' in text and ',2.0,"' in text
    assert ',-2,"' in text and '"#MULTIVALUE"' in text


@pytest.mark.django_db
def test_the_product_imports_a_few_hundred_vehicles_of_each_world(small):
    _, paths = small
    call_command("import_data", "--results", str(paths["results"]), "--defects",
                 str(paths["defects"]), "--no-progress", stdout=StringIO(), stderr=StringIO())

    raw = values(paths)
    results = Dataset.objects.get(kind="results")
    defects = Dataset.objects.get(kind="defects")
    assert results.status == defects.status == Dataset.Status.READY
    assert results.rows_read == results.rows_accepted == len(raw)
    assert results.knr_count == 300
    garbage = raw["number"].isna() & raw["VALUE"].str.strip().ne("")
    assert results.values_unparseable == garbage.sum() > 0
    raw_defects = pd.read_csv(paths["defects"], dtype=str, keep_default_na=False)
    unlabelled = raw_defects["S_GROUP_ID"].isin(UNLABELLED)
    assert defects.rows_dropped == unlabelled.sum() > 0
    assert defects.rows_accepted == (~unlabelled).sum()


def test_truth_is_a_probability_and_p_fail_combines_the_groups(small):
    _, paths = small
    truth = pd.read_csv(paths["truth"], dtype={"KNR": str})
    p = truth.filter(like="p_")
    assert ((p >= 0) & (p <= 1)).all().all()
    combined = 1 - (1 - p.drop(columns="p_fail")).prod(axis=1)
    assert (combined - truth["p_fail"]).abs().max() < 1e-5
    assert len(truth) == 300 and truth["KNR"].is_unique


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(small, tmp_path):
    world, paths = small
    again = WORLDS[world](knrs=300, out_dir=tmp_path / "again", seed=13)
    other = WORLDS[world](knrs=300, out_dir=tmp_path / "other", seed=14)
    for name in ("results", "defects", "truth"):
        assert again[name].read_bytes() == paths[name].read_bytes()
        assert other[name].read_bytes() != paths[name].read_bytes()


@pytest.mark.slow
def test_labels_follow_the_truth_on_a_few_thousand_vehicles(large):
    _, truth, labels = large
    for column in truth.columns:
        p, y = truth[column], labels[column]
        # Labels are independent draws from p: their mean lies within 4 standard errors of
        # p's, over all vehicles and over the fifth with the highest p alike.
        top = p.index.isin(p.nlargest(len(p) // 5).index)
        for rows in (slice(None), top):
            error = np.sqrt((p[rows] * (1 - p[rows])).sum()) / len(p[rows])
            assert abs(y[rows].mean() - p[rows].mean()) < 4 * error, column
        assert p[top].mean() > 1.5 * p.mean(), column


@pytest.mark.slow
def test_prevalences_are_the_plants(large):
    _, truth, _ = large
    share = truth.mean()
    assert 0.4 < share["p_fail"] < 0.6
    assert share["p_2"] == share.drop("p_fail").max()
    assert 0.04 < share["p_9830946"] < 0.06 and 0.04 < share["p_133"] < 0.06
    assert share["p_137"] < 0.03 and share["p_140"] < 0.03


@pytest.mark.slow
def test_small_deviations_give_no_group_a_strong_single_reading(generated):
    paths, truth, _ = generated("small_deviations")
    wide = values(paths).pivot_table(index="KNR", columns=["NAME", "VALUE_ID"], values="number")
    truth = truth.loc[wide.index]
    for column in truth.columns.drop("p_fail"):
        logit = np.log(truth[column] / (1 - truth[column]))
        strongest = wide.corrwith(logit).abs().max()
        assert strongest < 0.45, column  # no reading explains a fifth of the group's logit
        assert logit.std() > 1, column  # yet the readings together matter


@pytest.mark.slow
def test_interactions_shift_with_time_and_shifts(generated):
    paths, truth, _ = generated("interactions")
    rows = values(paths)
    start = pd.to_datetime(rows["DATA"], format="ISO8601").groupby(rows["KNR"]).min()[truth.index]
    reading = rows.set_index(["KNR", "NAME"])["number"]
    fill = reading.xs("012101", level="NAME").loc[truth.index]
    aim = (reading.xs("015001", level="NAME").loc[truth.index] - 1.2).abs()
    logit_5 = np.log(truth["p_5"] / (1 - truth["p_5"]))
    # Group 5's driver changes in July: the brake-fluid fill until then, the headlamp aim after.
    before = (start.dt.month < 7).to_numpy()
    assert logit_5[before].corr(fill[before]) < -0.8
    assert abs(logit_5[before].corr(aim[before])) < 0.1
    assert abs(logit_5[~before].corr(fill[~before])) < 0.1
    assert logit_5[~before].corr(aim[~before]) > 0.8
    # The night shift raises group 133; nothing is built on Sundays.
    night = ((start.dt.hour >= 22) | (start.dt.hour < 6)).to_numpy()
    assert truth["p_133"][night].mean() > 1.5 * truth["p_133"][~night].mean()
    assert not (start.dt.day_of_week == 6).any()
