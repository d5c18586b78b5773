"""Temporary folders of one crossline database, apart from every other's on the machine."""

import hashlib
import tempfile
from pathlib import Path

from django.db import connection


def scratch_root() -> Path:
    """This database's folder for temporary work, under the system's temporary folder.

    Imports and runs name their folders after their dataset or run number, and the reaper
    removes a dead one's by that name; another crossline database on the same machine (a test
    run, a benchmark, a second installation) numbers its own from 1 too, so each database
    keeps its folders apart.
    """
    db = connection.settings_dict
    identity = f"{db['ENGINE']}|{db.get('HOST')}|{db.get('PORT')}|{db['NAME']}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"crossline-{key}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root
