"""Where an import's files live: the stored Parquet copy, a queued upload waiting for its
worker, temporary folders (named after the dataset, so that the reaper finds them)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files.storage import default_storage

from crossline.scratch import scratch_root
from plant.models import Dataset

logger = logging.getLogger(__name__)

HASH_BLOCK = 1024 * 1024
# An import's temporary folders are named after its dataset, so that the reaper finds what a
# killed import left on disk.
IMPORT_TEMP_PREFIX = "crossline-import-"


@contextlib.contextmanager
def import_folder(dataset: Dataset) -> Iterator[Path]:
    """A temporary folder named after the dataset, removed afterwards (or by the reaper)."""
    with tempfile.TemporaryDirectory(
        prefix=f"{IMPORT_TEMP_PREFIX}{dataset.pk}-", dir=scratch_root()
    ) as folder:
        yield Path(folder)


def stored_dataset_name(dataset: Dataset) -> str:
    """Where a dataset's Parquet file lives in storage."""
    return f"datasets/{dataset.kind}/{dataset.pk}.parquet"


def source_name(dataset: Dataset) -> str:
    """Where a queued import's upload waits in storage (the name keeps its suffixes)."""
    suffixes = "".join(Path(dataset.original_name).suffixes[-2:])
    return f"datasets/uploads/{dataset.pk}{suffixes}"


def delete_stored(name: str, dataset: Dataset) -> None:
    """Delete a stored file of the dataset if there is one; a failure is logged, not raised."""
    if not name:
        return
    try:
        default_storage.delete(name)
    except FileNotFoundError:
        pass
    except Exception:
        logger.exception("Could not delete stored file %s of dataset %s", name, dataset.pk)


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (the same file uploaded twice is refused by it)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
