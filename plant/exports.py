"""A stored dataset as CSV, streamed one Parquet row group at a time (a plant's history does not
fit in memory at once)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.core.files.storage import default_storage

from plant.models import Dataset

BATCH_ROWS = 65_536


def dataset_csv(dataset: Dataset) -> Iterator[bytes]:
    """The dataset's accepted rows as CSV: a header, then each batch of rows."""
    with default_storage.open(dataset.file, "rb") as stored:
        parquet = pq.ParquetFile(stored)
        header = True
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            out = io.BytesIO()
            pa_csv.write_csv(batch, out, pa_csv.WriteOptions(include_header=header))
            header = False
            yield out.getvalue()
        if header:  # no rows: the header alone
            out = io.BytesIO()
            pa_csv.write_csv(parquet.schema_arrow.empty_table(), out)
            yield out.getvalue()
