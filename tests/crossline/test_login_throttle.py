"""Admin log-in throttled per user name and address: the right password is refused too."""

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(django_user_model, settings):
    # A fast hasher: the throttle is under test, not PBKDF2's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_user(
        username="quality-lead", password=PASSWORD, is_staff=True
    )


def log_in(client, password: str, address: str = "10.0.0.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "quality-lead", "password": password},
        REMOTE_ADDR=address,
    )


def test_25_wrong_passwords_then_the_right_one_is_refused_with_a_clear_message(
    client, staff, settings
):
    settings.CROSSLINE_LOGIN_MAX_FAILURES = 10
    messages = []
    for _ in range(25):
        response = log_in(client, "wrong-password")
        assert response.status_code == 200
        messages.append("Too many failed log-in attempts" in response.content.decode())
    assert messages == [False] * 10 + [True] * 15
    response = log_in(client, PASSWORD)
    assert response.status_code == 200
    assert "Too many failed log-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_address_and_a_success_clears_the_count(client, staff, settings):
    settings.CROSSLINE_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        log_in(client, "wrong-password")
    assert "Too many" in log_in(client, PASSWORD).content.decode()
    response = log_in(client, PASSWORD, address="10.0.0.8")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_failures_below_the_limit_do_not_lock_out(client, staff, settings):
    settings.CROSSLINE_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        log_in(client, "wrong-password")
    assert log_in(client, PASSWORD).status_code == 302
