"""A Django Storage on MongoDB's GridFS: artifacts and uploads live in the production database."""

import contextlib
import hashlib
from datetime import UTC
from typing import IO, Any
from urllib.parse import quote

import gridfs
from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import connections
from django.utils.deconstruct import deconstructible


class GridFSFile(File):
    """A stored file read lazily from GridFS."""

    def __init__(self, grid_out: gridfs.GridOut, name: str) -> None:
        super().__init__(grid_out, name)
        self.size = grid_out.length

    def close(self) -> None:
        self.file.close()


@deconstructible
class GridFSStorage(Storage):
    """Files keyed by name in one GridFS bucket of the `default` database.

    A name maps to exactly one file: `_save` writes the new file before deleting older files
    with the same name, so a reader never sees a half-written file and a crash leaves at most a
    superseded copy behind, never none.
    """

    def __init__(self, bucket: str = "files", using: str = "default") -> None:
        self.bucket_name = bucket
        self.using = using

    @property
    def bucket(self) -> gridfs.GridFSBucket:
        connection = connections[self.using]
        connection.ensure_connection()
        return gridfs.GridFSBucket(connection.database, bucket_name=self.bucket_name)

    def _files(self):
        return self.bucket._files

    def _latest(self, name: str) -> dict[str, Any] | None:
        return self._files().find_one({"filename": name}, sort=[("uploadDate", -1)])

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode:
            raise ValueError("GridFS files are written through save(), not opened for writing.")
        doc = self._latest(name)
        if doc is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return GridFSFile(self.bucket.open_download_stream(doc["_id"]), name)

    def _save(self, name: str, content: IO[bytes]) -> str:
        bucket = self.bucket
        digest = hashlib.sha256()
        source = content if isinstance(content, File) else File(content)
        with bucket.open_upload_stream(name) as stream:
            for chunk in source.chunks():
                digest.update(chunk)
                stream.write(chunk)
            new_id = stream._id
        metadata = {"sha256": digest.hexdigest()}
        self._files().update_one({"_id": new_id}, {"$set": {"metadata": metadata}})
        for old in self._files().find({"filename": name, "_id": {"$ne": new_id}}, {"_id": 1}):
            bucket.delete(old["_id"])
        return name

    def delete(self, name: str) -> None:
        for doc in self._files().find({"filename": name}, {"_id": 1}):
            with contextlib.suppress(gridfs.errors.NoFile):
                self.bucket.delete(doc["_id"])

    def exists(self, name: str) -> bool:
        return self._latest(name) is not None

    def size(self, name: str) -> int:
        doc = self._latest(name)
        if doc is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return doc["length"]

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.rstrip("/") + "/" if path else ""
        dirs: set[str] = set()
        files: set[str] = set()
        for name in self._files().distinct("filename"):
            if not name.startswith(prefix):
                continue
            head, sep, _ = name[len(prefix) :].partition("/")
            (dirs if sep else files).add(head)
        return sorted(dirs), sorted(files)

    def url(self, name: str) -> str:
        return f"/media/{quote(name)}"

    def get_modified_time(self, name: str):
        doc = self._latest(name)
        if doc is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return doc["uploadDate"].replace(tzinfo=UTC)

    get_created_time = get_modified_time
