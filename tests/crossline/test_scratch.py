"""Temporary folders are kept apart per database: another crossline's reaper never sees ours."""

import tempfile
from pathlib import Path

from django.db import connection

from crossline.scratch import scratch_root


def test_each_database_has_a_temporary_folder_of_its_own(monkeypatch):
    ours = scratch_root()
    monkeypatch.setitem(connection.settings_dict, "NAME", "another-crossline")
    theirs = scratch_root()

    assert ours != theirs
    assert ours.parent == theirs.parent == Path(tempfile.gettempdir())
    assert ours.is_dir() and theirs.is_dir()
    assert ours.stat().st_mode & 0o777 == 0o700
