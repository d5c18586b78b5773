"""Importing plant exports: the service and the command, counts, refusals and clean failures."""

import gzip
from datetime import datetime
from io import StringIO
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from crossline.exceptions import InvalidUpload
from plant import imports, vehicles
from plant.demo import generate_demo_data
from plant.models import Dataset, Vehicle, VehicleRecord
from plant.selectors import get_vehicle_detail
from tests.support.storage import stored_files

KNRS = 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return generate_demo_data(knrs=KNRS, out_dir=tmp_path_factory.mktemp("demo"), seed=11)


@pytest.fixture(scope="module")
def raw_results(demo) -> pd.DataFrame:
    return pd.read_csv(demo["results"], dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def raw_defects(demo) -> pd.DataFrame:
    return pd.read_csv(demo["defects"], dtype=str, keep_default_na=False)


def vehicle_snapshot() -> list[tuple]:
    return list(
        Vehicle.objects.order_by("knr").values_list(
            "knr", "test_count", "nok_count", "defect_count", "fail_group_codes", "dataset_ids"
        )
    )


def import_file(path: Path, kind: str, **kwargs) -> Dataset:
    return imports.import_dataset(path=path, original_name=path.name, kind=kind, **kwargs)


@pytest.mark.django_db
def test_command_imports_results_and_defects_with_the_files_counts(demo, raw_results, raw_defects):
    out = StringIO()
    call_command("import_data", "--results", str(demo["results"]), "--defects",
                 str(demo["defects"]), "--no-progress", stdout=out, stderr=StringIO())

    results = Dataset.objects.get(kind="results")
    defects = Dataset.objects.get(kind="defects")
    assert results.status == defects.status == Dataset.Status.READY
    assert results.rows_read == results.rows_accepted == len(raw_results)
    assert results.knr_count == raw_results["KNR"].nunique() == KNRS
    unparseable = pd.to_numeric(
        raw_results["VALUE"].str.strip().str.replace(",", "."), errors="coerce"
    ).isna() & raw_results["VALUE"].str.strip().ne("")
    assert results.values_unparseable == unparseable.sum() > 0
    dropped = raw_defects["S_GROUP_ID"].isin(["-2", "#MULTIVALUE"])
    assert defects.rows_dropped == dropped.sum() > 0
    assert defects.rows_accepted == (~dropped).sum()
    assert results.first_at == timezone.make_aware(
        pd.Timestamp(raw_results["DATA"].min()).to_pydatetime()
    )
    assert results.sha256 and results.size_bytes == demo["results"].stat().st_size
    assert f"{len(raw_results):,} rows read" in out.getvalue()
    assert "S_GROUP_ID is -2 or #MULTIVALUE" in out.getvalue()

    # The accepted rows are kept as Parquet in storage, normalised.
    with default_storage.open(results.file) as stored:
        table = pq.read_table(stored)
    assert table.num_rows == results.rows_accepted
    assert table.schema.field("VALUE").type == pa.float64()
    assert table.column("KNR").to_pylist()[0] == raw_results["KNR"].iloc[0]
    assert results.file == f"datasets/results/{results.pk}.parquet"
    assert sorted(stored_files()) == sorted([results.file, defects.file])


@pytest.mark.django_db
def test_vehicles_sum_up_their_tests_and_defects_after_two_imports(demo, raw_results, raw_defects):
    results = import_file(demo["results"], "results", chunk_rows=700)
    defects = import_file(demo["defects"], "defects")

    assert Vehicle.objects.count() == KNRS
    # A KNR split across chunks gets several records; the vehicle adds them up.
    assert VehicleRecord.objects.filter(kind="results").count() > KNRS
    labelled = raw_defects[~raw_defects["S_GROUP_ID"].isin(["-2", "#MULTIVALUE"])]
    for knr in [raw_results["KNR"].iloc[0], labelled["KNR"].iloc[-1]]:
        vehicle = Vehicle.objects.get(knr=knr)
        rows = raw_results[raw_results["KNR"] == knr]
        mine = labelled[labelled["KNR"] == knr]
        assert vehicle.test_count == len(rows)
        assert vehicle.nok_count == (rows["STATUS"] == "13").sum()
        assert vehicle.defect_count == len(mine)
        assert vehicle.fail_groups == sorted({int(float(c)) for c in mine["S_GROUP_ID"]})
        assert vehicle.has_defects == bool(len(mine))
        assert vehicle.first_test_at == timezone.make_aware(
            pd.Timestamp(rows["DATA"].min()).to_pydatetime())
        assert vehicle.last_test_at == timezone.make_aware(
            pd.Timestamp(rows["DATA"].max()).to_pydatetime())
        expected = [results.pk, defects.pk] if len(mine) else [results.pk]
        assert sorted(map(str, vehicle.dataset_ids)) == sorted(map(str, expected))
    with_defects = labelled["KNR"].nunique()
    assert Vehicle.objects.filter(has_defects=True).count() == with_defects
    assert 0 < with_defects < KNRS


@pytest.mark.django_db
def test_an_export_in_time_order_gives_each_vehicle_its_own_rows(raw_results, tmp_path):
    shuffled = raw_results.sample(frac=1, random_state=3)
    shuffled.to_csv(tmp_path / "by-time.csv", index=False)

    import_file(tmp_path / "by-time.csv", "results", chunk_rows=700)

    chunks = -(-len(shuffled) // 700)
    assert VehicleRecord.objects.count() <= KNRS * chunks
    expected = raw_results.groupby("KNR")["STATUS"].agg(["size", lambda s: (s == "13").sum()])
    counts = {knr: (tests, noks) for knr, tests, noks in expected.itertuples()}
    assert {v.knr: (v.test_count, v.nok_count) for v in Vehicle.objects.all()} == counts
    knr = raw_results["KNR"].iloc[0]
    assert len(get_vehicle_detail(knr).tests) == counts[knr][0]


@pytest.mark.django_db
def test_results_in_two_overlapping_exports_count_once_on_the_vehicle_and_its_page(
    raw_results, tmp_path
):
    knrs = sorted(raw_results["KNR"].unique())
    early = raw_results[raw_results["KNR"].isin(knrs[:40])]
    late = raw_results[raw_results["KNR"].isin(knrs[20:])]
    # The late export also repeats one row within itself.
    late = pd.concat([late, late.iloc[:1]])
    early.to_csv(tmp_path / "week-1.csv", index=False)
    late.to_csv(tmp_path / "week-2.csv", index=False)
    import_file(tmp_path / "week-1.csv", "results")
    import_file(tmp_path / "week-2.csv", "results", chunk_rows=500)

    for knr in (knrs[0], knrs[25], knrs[39], late["KNR"].iloc[0], knrs[-1]):
        rows = raw_results[raw_results["KNR"] == knr]
        vehicle = Vehicle.objects.get(knr=knr)
        assert vehicle.test_count == len(rows), knr
        assert vehicle.nok_count == (rows["STATUS"] == "13").sum(), knr
        assert len(get_vehicle_detail(knr).tests) == len(rows), knr


@pytest.mark.django_db
def test_a_vehicles_detail_lists_every_test_by_time_and_every_defect(demo, raw_results,
                                                                      raw_defects):
    import_file(demo["results"], "results", chunk_rows=700)
    import_file(demo["defects"], "defects")
    labelled = raw_defects[~raw_defects["S_GROUP_ID"].isin(["-2", "#MULTIVALUE"])]
    knr = labelled["KNR"].iloc[0]

    detail = get_vehicle_detail(knr)

    rows = raw_results[raw_results["KNR"] == knr]
    assert len(detail.tests) == len(rows)
    assert [t["at"] for t in detail.tests] == sorted(t["at"] for t in detail.tests)
    assert {t["name"] for t in detail.tests} == set(rows["NAME"])
    assert {t["status"] for t in detail.tests} <= {"OK", "NOK"}
    assert sum(t["status"] == "NOK" for t in detail.tests) == (rows["STATUS"] == "13").sum()
    first = rows.iloc[0]
    match = next(t for t in detail.tests
                 if t["name"] == first["NAME"] and t["value_id"] == float(first["VALUE_ID"]))
    assert match["unit"] == (first["UNIT"].strip() or None)
    assert match["family"] == int(first["ID"])
    assert len(detail.defects) == len(labelled[labelled["KNR"] == knr])
    assert {d["defect"] for d in detail.defects} == set(labelled[labelled["KNR"] == knr]["FALHA"])


@pytest.mark.django_db
def test_importing_the_same_file_again_is_refused_naming_the_first_import(demo):
    first = import_file(demo["results"], "results")
    before = vehicle_snapshot()
    renamed = demo["results"].with_name("renamed.csv.gz")
    renamed.write_bytes(demo["results"].read_bytes())

    with pytest.raises(InvalidUpload, match=rf"renamed.csv.gz was already imported as dataset "
                                            rf"{first.pk} \(results.csv.gz\) on "):
        import_file(renamed, "results")

    assert list(Dataset.objects.values_list("pk", flat=True)) == [first.pk]
    assert VehicleRecord.objects.exclude(dataset_id=first.pk).count() == 0
    assert vehicle_snapshot() == before
    assert stored_files() == [first.file]


def write_bad(tmp_path: Path, case: str, demo: dict[str, Path]) -> tuple[Path, str]:
    path = tmp_path / f"{case}.csv"
    if case == "missing_columns":
        path.write_text("KNR,NAME,ID,STATUS,DATA\n2024-2000001,012001,1,10,2024-05-16 13:21:03\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "header_only":
        path.write_text(",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n")
    elif case == "wrong_kind":
        path.write_bytes(demo["defects"].read_bytes())
    elif case == "binary":
        path.write_bytes(b"KNR,NAME\x00\x01\x02" + bytes(range(256)) * 40)
    elif case == "bad_gzip":
        path = tmp_path / "broken.csv.gz"
        path.write_bytes(gzip.compress(demo["results"].read_bytes())[:200])
    elif case == "utf16_without_bom":
        path.write_bytes(",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n".encode("utf-16-le"))
    elif case == "no_valid_rows":
        path.write_text(",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
                        "0,KNR-1,012001,1,10,Nm,1.0,1.5,2024-05-16 13:21:03\n")
    return path, "results"


BAD_INPUTS = {
    "missing_columns": r"missing_columns.csv is missing required columns for a results export: "
                       r"UNIT, VALUE_ID, VALUE",
    "empty": r"empty.csv is empty",
    "header_only": r"header_only.csv has a header but no data rows",
    "wrong_kind": r"wrong_kind.csv is missing required columns .* looks like a defects export",
    "binary": r"binary.csv is not a text export",
    "utf16_without_bom": r"utf16_without_bom.csv is not a text export \(it contains binary "
                         r"data\); .*UTF-16 with its byte order mark",
    "bad_gzip": r"broken.csv.gz is not a readable gzip file",
    "no_valid_rows": r"no_valid_rows.csv: none of its 1 rows was accepted "
                     r"\(KNR is not of the form YYYY-NNNNNNN: 1\)",
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_refused_file_names_the_problem_and_stores_nothing(case, demo, tmp_path):
    kept = import_file(demo["defects"], "defects")
    before = vehicle_snapshot()
    path, kind = write_bad(tmp_path, case, demo)

    with pytest.raises(InvalidUpload, match=BAD_INPUTS[case]):
        import_file(path, kind)

    assert list(Dataset.objects.values_list("pk", flat=True)) == [kept.pk]
    assert VehicleRecord.objects.exclude(dataset_id=kept.pk).count() == 0
    assert vehicle_snapshot() == before
    assert stored_files() == [kept.file]


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_refused_before_anything_is_stored(demo):
    size = demo["results"].stat().st_size
    with (
        override_settings(CROSSLINE_MAX_UPLOAD_BYTES=size - 1),
        pytest.raises(InvalidUpload, match=rf"results.csv.gz is {size:,} bytes, over the limit "
                                           rf"of {size - 1:,} bytes"),
    ):
        import_file(demo["results"], "results")
    assert Dataset.objects.count() == VehicleRecord.objects.count() == Vehicle.objects.count() == 0
    assert stored_files() == []


class Boom(RuntimeError):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["second_chunk", "storage", "vehicles"])
def test_a_failure_half_way_leaves_no_dataset_no_file_and_vehicles_as_they_were(
    where, demo, monkeypatch
):
    kept = import_file(demo["defects"], "defects")
    before = vehicle_snapshot()
    assert before  # the defects import made vehicles that must stay exactly as they are
    if where == "second_chunk":
        real = imports._create_records
        calls = []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise Boom("disk full")
            return real(*args, **kwargs)

        monkeypatch.setattr(imports, "_create_records", failing)
    elif where == "storage":
        real_save = default_storage.save

        def save_then_fail(name, content, **kwargs):
            real_save(name, content, **kwargs)  # the file lands, then the connection drops
            raise Boom("connection reset")

        monkeypatch.setattr(default_storage, "save", save_then_fail)
    else:
        real_refresh = vehicles.refresh_vehicles
        calls = []

        def refresh_once_then_fail(knrs, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                # Part of the vehicles are written before the failure.
                real_refresh(sorted(knrs)[:10], **kwargs)
                raise Boom("lost connection")
            return real_refresh(knrs, **kwargs)

        monkeypatch.setattr(vehicles, "refresh_vehicles", refresh_once_then_fail)

    with pytest.raises(Boom):
        import_file(demo["results"], "results", chunk_rows=500)

    assert list(Dataset.objects.values_list("pk", flat=True)) == [kept.pk]
    assert VehicleRecord.objects.exclude(dataset_id=kept.pk).count() == 0
    assert vehicle_snapshot() == before
    assert stored_files() == [kept.file]


@pytest.mark.django_db
def test_deleting_a_dataset_removes_its_file_records_and_recomputes_vehicles(demo):
    results = import_file(demo["results"], "results")
    defects = import_file(demo["defects"], "defects")
    assert Vehicle.objects.filter(has_defects=True).exists()

    imports.delete_dataset(dataset=defects)

    assert not Dataset.objects.filter(pk=defects.pk).exists()
    assert not VehicleRecord.objects.filter(dataset_id=defects.pk).exists()
    assert stored_files() == [results.file]
    assert Vehicle.objects.count() == KNRS
    assert not Vehicle.objects.filter(has_defects=True).exists()
    assert not Vehicle.objects.exclude(defect_count=0).exists()

    imports.delete_dataset(dataset=results)
    assert Vehicle.objects.count() == 0
    assert stored_files() == []


@pytest.mark.django_db
def test_the_command_imports_the_good_files_and_exits_1_naming_the_refused_one(demo, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("KNR,DATA\n2024-2000001,2024-05-16 13:21:03\n")
    err = StringIO()

    with pytest.raises(CommandError, match=r"1 of 2 files refused:\n.*bad.csv: bad.csv is "
                                           r"missing required columns"):
        call_command("import_data", "--results", str(bad), "--defects", str(demo["defects"]),
                     "--no-progress", stdout=StringIO(), stderr=err)

    assert list(Dataset.objects.values_list("original_name", flat=True)) == ["defects.csv"]
    assert "Refused: bad.csv is missing required columns" in err.getvalue()


@pytest.mark.django_db
def test_the_command_refuses_a_path_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="No such file: .*nowhere.csv"):
        call_command("import_data", "--results", str(tmp_path / "nowhere.csv"))
    assert Dataset.objects.count() == 0


@pytest.mark.django_db
def test_generate_demo_data_writes_both_exports_and_the_truth(tmp_path):
    out = StringIO()
    call_command("generate_demo_data", "--knrs", "25", "--out", str(tmp_path), "--seed", "4",
                 stdout=out)
    results = pd.read_csv(tmp_path / "results.csv.gz", dtype=str)
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert results["KNR"].nunique() == len(truth) == 25
    assert (tmp_path / "defects.csv").stat().st_size > 0
    assert "truth: " in out.getvalue()


@pytest.mark.django_db
def test_a_vehicles_detail_leaves_out_rows_of_an_unfinished_import(demo, raw_results):
    import_file(demo["results"], "results")
    knr = raw_results["KNR"].iloc[0]
    running = Dataset.objects.create(kind="results", original_name="running.csv", size_bytes=1,
                                     sha256="1" * 64)
    VehicleRecord.objects.create(
        knr=knr, dataset=running, kind="results", row_count=1, columns=["NAME", "STATUS"],
        rows=[["HALF_IMPORTED", 13]],
    )

    detail = get_vehicle_detail(knr)

    assert len(detail.tests) == (raw_results["KNR"] == knr).sum()
    assert "HALF_IMPORTED" not in {t["name"] for t in detail.tests}


def refused_and_nothing_stored(path: Path, kind: str, message: str, kept: Dataset) -> None:
    before = vehicle_snapshot()
    with pytest.raises(InvalidUpload, match=message):
        import_file(path, kind)
    assert list(Dataset.objects.values_list("pk", flat=True)) == [kept.pk]
    assert VehicleRecord.objects.exclude(dataset_id=kept.pk).count() == 0
    assert vehicle_snapshot() == before
    assert stored_files() == [kept.file]


@pytest.mark.django_db
def test_the_same_rows_recompressed_and_reordered_are_refused_naming_the_first_import(
    demo, tmp_path
):
    first = import_file(demo["results"], "results")
    header, *rows = gzip.decompress(demo["results"].read_bytes()).decode().splitlines(True)
    again = tmp_path / "again.csv"
    again.write_text(header + "".join(reversed(rows)))

    refused_and_nothing_stored(
        again, "results",
        rf"again.csv holds the same rows as dataset {first.pk} \(results.csv.gz\), already "
        rf"imported on ",
        first,
    )


@pytest.mark.django_db
def test_different_rows_of_the_same_vehicles_are_not_a_duplicate(demo, tmp_path):
    import_file(demo["results"], "results")
    header, *rows = gzip.decompress(demo["results"].read_bytes()).decode().splitlines(True)
    part = tmp_path / "part.csv"
    part.write_text(header + "".join(rows[: len(rows) // 2]))

    assert import_file(part, "results").rows_accepted == len(rows) // 2


@pytest.mark.django_db
def test_an_export_that_unpacks_past_the_limit_is_refused_with_nothing_stored(demo):
    kept = import_file(demo["defects"], "defects")
    unpacked = len(gzip.decompress(demo["results"].read_bytes()))

    with override_settings(CROSSLINE_MAX_UNCOMPRESSED_BYTES=unpacked // 2):
        refused_and_nothing_stored(
            demo["results"], "results",
            rf"results.csv.gz unpacks to more than {unpacked // 2:,} bytes, over the limit",
            kept,
        )


@pytest.mark.django_db
def test_infinite_values_and_implausible_dates_are_reported_not_stored(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(
        "KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
        "2024-2056234,012001,1,10,Nm,1.0,1e309,2024-05-16 13:21:03\n"
        "2024-2056234,012001,1,10,Nm,1.0,2.5,2099-05-16 13:21:03\n"
        "2024-2056234,012001,1,10,Nm,1.0,2.5,1999-12-31 23:59:59\n"
        "2024-2056234,042000,718,13,V,1.0,12.5,2024-05-16 13:22:03\n"
    )

    with override_settings(CROSSLINE_EARLIEST_DATE=datetime(2000, 1, 1), CROSSLINE_DAYS_AHEAD=1):
        dataset = import_file(path, "results")

    assert (dataset.rows_accepted, dataset.rows_rejected, dataset.values_unparseable) == (2, 2, 1)
    problems = dataset.report["problems"]
    assert problems["VALUE is infinite or out of range (kept as empty)"]["count"] == 1
    window = next(p for reason, p in problems.items() if reason.startswith("DATA is outside"))
    assert [e["value"] for e in window["examples"]] == ["2099-05-16 13:21:03",
                                                        "1999-12-31 23:59:59"]
    tests = get_vehicle_detail("2024-2056234").tests
    assert [t["value"] for t in tests] == [None, 12.5]
    stored = pq.read_table(default_storage.open(dataset.file)).column("VALUE").to_pylist()
    assert stored == [None, 12.5]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["results", "defects"])
def test_an_import_sniffs_its_file_once_and_reads_it_with_what_the_sniff_found(
    kind, demo, monkeypatch
):
    from plant.readers import sniff

    heads = []
    sniff_text = sniff._sniff_text

    def counted(path, **kwargs):
        heads.append(path)
        return sniff_text(path, **kwargs)

    monkeypatch.setattr(sniff, "_sniff_text", counted)

    dataset = import_file(demo[kind], kind, chunk_rows=20)

    assert heads == [demo[kind]]
    assert dataset.status == Dataset.Status.READY and dataset.rows_read > 20  # several chunks
