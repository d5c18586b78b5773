"""Shared fixtures; the same suite runs on the embedded default and on MongoDB."""

import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.support.generated_client import PACKAGE

ON_MONGODB = django_settings.USE_MONGODB
BACKEND = "mongodb" if ON_MONGODB else "sqlite"


def pytest_report_header(config: pytest.Config) -> str:
    return f"crossline database: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with the marker's reason shown in the summary, tests that hold on one backend only."""
    other = "sqlite_only" if ON_MONGODB else "mongodb_only"
    for item in items:
        if ON_MONGODB and not uses_database(item):
            # Pure code (pipeline steps, readers, settings helpers) behaves the same whatever
            # the database; it ran in the embedded-default pass.
            item.add_marker(pytest.mark.skip(reason="no database: covered by the SQLite pass"))
            continue
        marker = item.get_closest_marker(other)
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: @{other} needs a reason")
        item.add_marker(pytest.mark.skip(reason=f"{other}: {reason}"))


def uses_database(item: pytest.Item) -> bool:
    """Whether a test touches a database (a django_db or live mark, or a fixture that needs one)."""
    if item.get_closest_marker("django_db") is not None:
        return True
    if item.get_closest_marker("live") is not None:
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & DATABASE_FIXTURES)


DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "client",
    "admin_client",
    "admin_user",
    "django_user_model",
    "staff_user",
    "lead_user",
    "plain_user",
    "live_server",
}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, migrated; on MongoDB, reset after each test to what migrations left.

    MongoDB has no transactions to roll back, and Django's fallback (a flush, then re-creating
    content types and permissions) cost about 1.2 s a test on mongoeco: see
    tests/support/mongodb_reset.py.
    """
    if not ON_MONGODB:
        yield
        return
    from tests.support.mongodb_reset import MigratedState

    with django_db_blocker.unblock():
        state = MigratedState.capture(connection.alias)
    with state.replacing_flush():
        yield


@pytest.fixture(autouse=True)
def isolated_storage(request: pytest.FixtureRequest, settings, tmp_path):
    """Each test gets empty file storage: a temporary media folder, or empty GridFS buckets."""
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    if ON_MONGODB and "django_db_setup" in request.fixturenames:
        database = connection.database
        for name in database.list_collection_names():
            if name.endswith((".files", ".chunks")):
                database.drop_collection(name)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Users made in the test process hash with MD5: PBKDF2 took about 0.7 s a user, on both passes.

    crossline's own processes (live tests) keep the real hashers; they never see these users.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def fresh_crossline(tmp_path_factory):
    """One live fresh installation (no demo data, no worker) for the tests that only look at it."""
    from tests.support.live_server import running_crossline

    with running_crossline(tmp_path_factory.mktemp("fresh-crossline")) as live:
        yield live


@pytest.fixture
def staff_user(django_user_model):
    """Staff without the "Quality lead" group: uploads, trains, predicts; no protected action."""
    return django_user_model.objects.create_user(
        username="line-engineer", password="a-long-test-password", is_staff=True
    )


@pytest.fixture
def lead_user(django_user_model):
    """Staff in the "Quality lead" group, as its migrations made it."""
    from django.contrib.auth.models import Group

    from crossline.groups import QUALITY_LEAD

    user = django_user_model.objects.create_user(
        username="quality-lead", password="a-long-test-password", is_staff=True
    )
    user.groups.add(Group.objects.get(name=QUALITY_LEAD))
    return user


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user(
        username="line-viewer", password="a-long-test-password", is_staff=False
    )


@pytest.fixture
def admin_user_client(client, django_user_model):
    """A Django test client logged in as a superuser (the admin)."""
    user = django_user_model.objects.create_superuser(
        username="admin", password="a-long-test-password", email="admin@example.com"
    )
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def staff_api(staff_user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff_user)
    api.user = staff_user
    return api


@pytest.fixture
def lead_api(lead_user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(lead_user)
    api.user = lead_user
    return api


@pytest.fixture
def plain_api(plain_user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(plain_user)
    api.user = plain_user
    return api


@pytest.fixture
def client_package(tmp_path):
    """Imports the generated client package from tmp_path; forgets it afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]
