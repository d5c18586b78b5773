"""Uploaded files as local paths, for readers that need to seek and re-read."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from crossline.exceptions import UploadTooLarge


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


class SizeLimitedUploadHandler(FileUploadHandler):
    """Refuses a request larger than the upload limit before reading its body to disk."""

    # Multipart framing and the other form fields ride along with the file.
    OVERHEAD_BYTES = 1024 * 1024

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        limit = settings.CROSSLINE_MAX_UPLOAD_BYTES
        if content_length > limit + self.OVERHEAD_BYTES:
            raise UploadTooLarge(
                f"The upload is {content_length:,} bytes, over the limit of {limit:,} bytes "
                "(CROSSLINE_MAX_UPLOAD_BYTES); nothing was stored."
            )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
