"""An import's report: the content fingerprint of its accepted rows."""

from __future__ import annotations

import gzip

from plant.readers.columns import DEFECTS
from plant.readers.report import ValidationReport
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
