"""No module of the apps is over 600 lines: one that long holds more than one job."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("crossline", "plant", "training", "mlmodels", "predictions")
LIMIT = 600


def app_modules() -> list[Path]:
    """Every Python module of the apps but their migrations (generated, never edited)."""
    return [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if not {"migrations", "mongo_migrations"} & set(path.relative_to(ROOT).parts)
    ]


def test_no_module_of_the_apps_is_over_600_lines():
    modules = app_modules()
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in modules}

    assert len(modules) > 100 and "plant/imports.py" in lengths  # the apps were found
    assert {name: n for name, n in lengths.items() if n > LIMIT} == {}
