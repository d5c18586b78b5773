"""What the tests look for in the project's file storage."""

from django.core.files.storage import default_storage


def stored_files(folder: str = "datasets") -> list[str]:
    """Every file under `folder` in the project's storage."""
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f"{folder}/{f}" for f in files] + [
        name for d in dirs for name in stored_files(f"{folder}/{d}")
    ]
