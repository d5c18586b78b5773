"""Uploaded files as local paths, for readers that need to seek and re-read."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile


@contextlib.contextmanager
def uploaded_file_path(upload: UploadedFile) -> Iterator[Path]:
    """The upload's temporary file, or a spooled copy of a small in-memory upload."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        yield Path(temporary())
        return
    # Keep the suffixes (".csv.gz"): readers sniff the content, but people read the names.
    suffix = "".join(Path(upload.name or "").suffixes[-2:])
    with tempfile.NamedTemporaryFile(prefix="crossline-upload-", suffix=suffix) as spool:
        for block in upload.chunks():
            spool.write(block)
        spool.flush()
        yield Path(spool.name)
