"""crossline served as `make run` serves it, seen from outside."""

import urllib.request

import pytest

from tests.support.live_server import running_crossline

pytestmark = pytest.mark.live


def test_a_fresh_installation_serves_health_and_the_admin_log_in(tmp_path):
    with running_crossline(tmp_path) as live:
        status, body = live.get_json("/healthz")
        assert status == 200, body
        assert body["status"] == "ok"
        with urllib.request.urlopen(live.url + "/admin/login/", timeout=30) as response:
            page = response.read().decode()
        assert response.status == 200
        assert 'name="password"' in page
