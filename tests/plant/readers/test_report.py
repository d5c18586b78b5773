"""An import's report: the content fingerprint of its accepted rows."""

from __future__ import annotations

import gzip

import pandas as pd
import pyarrow as pa

from plant.readers.columns import DEFECTS
from plant.readers.records import text_dictionaries
from plant.readers.report import ValidationReport, row_hashes
from plant.readers.sniff import sniff_export
from plant.readers.validation import iter_clean_tables
from tests.plant.readers.samples import write


def fingerprint(path) -> str:
    """The content fingerprint of an export's accepted rows, as the import folds it."""
    report = ValidationReport(kind=DEFECTS, filename=path.name)
    for table in iter_clean_tables(sniff_export(path, filename=path.name, kind=DEFECTS),
                                   report=report, chunk_rows=2):
        report.add_fingerprint(table)
    return report.content_fingerprint()


def test_the_content_fingerprint_ignores_order_and_compression_but_not_content(tmp_path):
    lines = [f"2024-{2000000 + i:07d},2,2024-05-20 21:31:5{i}\n" for i in range(5)]
    header = "KNR,S_GROUP_ID,DATA\n"
    plain = write(tmp_path, "a.csv", header + "".join(lines))
    packed = tmp_path / "b.csv.gz"
    packed.write_bytes(gzip.compress((header + "".join(reversed(lines))).encode()))
    other = write(tmp_path, "c.csv", header + "".join(lines[:4]) + lines[4].replace(",2,", ",4,"))

    fingerprints = [fingerprint(path) for path in (plain, packed, other)]

    assert fingerprints[0] == fingerprints[1] != fingerprints[2]


def test_row_hashes_are_pandas_hashes_of_the_rows_with_or_without_dictionaries():
    # The fingerprints of datasets already imported were made with pandas' row hashes: a new
    # import of the same rows must give the same fingerprint to be refused.
    table = pa.table(
        {
            "KNR": ["2024-2000001", "2024-2000001", "2024-2000002", "2024-2000003"],
            "UNIT": ["Nm", None, "Nm", "ção"],
            "ID": pa.array([2, 2, 3, 2], pa.int64()),
            "VALUE": pa.array([1.5, None, -0.0, float("nan")], pa.float64()),
            "DATA": pa.array([0, 1_000, 2_000, 3_000], pa.timestamp("ms")),
        }
    )
    expected = pd.util.hash_pandas_object(table.to_pandas(), index=False).to_numpy()

    shared = row_hashes(table, text_dictionaries(table))

    assert shared.tolist() == expected.tolist()
    assert row_hashes(table, {}).tolist() == expected.tolist()
    assert len(set(shared.tolist())) == 4
