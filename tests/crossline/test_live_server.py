"""crossline served as `make run` serves it, seen from outside."""

import urllib.request

import pytest

pytestmark = pytest.mark.live


def test_a_fresh_installation_serves_health_and_the_admin_log_in(fresh_crossline):
    live = fresh_crossline
    status, body = live.get_json("/healthz")
    assert status == 200, body
    assert body["status"] == "ok"
    with urllib.request.urlopen(live.url + "/admin/login/", timeout=30) as response:
        page = response.read().decode()
    assert response.status == 200
    assert 'name="password"' in page
