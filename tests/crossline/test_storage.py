import hashlib
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

PAYLOAD = os.urandom(600_000)  # larger than one GridFS chunk (255 KiB)


@pytest.mark.django_db
def test_a_saved_file_reads_back_byte_identical():
    name = default_storage.save("artifacts/model.joblib", ContentFile(PAYLOAD))
    with default_storage.open(name) as stored:
        assert stored.read() == PAYLOAD
    assert default_storage.size(name) == len(PAYLOAD)
    default_storage.delete(name)
    assert not default_storage.exists(name)


@pytest.mark.mongodb_only(reason="GridFS exists only on MongoDB")
@pytest.mark.django_db
def test_a_file_saved_on_mongodb_lands_in_gridfs():
    import gridfs

    name = default_storage.save("datasets/results.parquet", ContentFile(PAYLOAD))
    bucket = gridfs.GridFSBucket(connection.database, bucket_name="files")
    stored = bucket.open_download_stream_by_name(name)
    assert stored.read() == PAYLOAD
    assert stored.metadata["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.mongodb_only(reason="GridFS exists only on MongoDB")
@pytest.mark.django_db
def test_saving_under_a_taken_name_keeps_both_files_apart():
    first = default_storage.save("datasets/a.parquet", ContentFile(b"first"))
    second = default_storage.save("datasets/a.parquet", ContentFile(b"second"))
    assert first != second
    assert default_storage.open(first).read() == b"first"
    assert default_storage.open(second).read() == b"second"
    stored_names = sorted(name.split("/")[-1] for name in (first, second))
    assert default_storage.listdir("datasets")[1] == stored_names
