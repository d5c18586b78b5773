"""`manage.py serve` behind a TLS-terminating proxy: the proxy's word on HTTPS is believed."""

import subprocess
import sys
import time
import urllib.error
import urllib.request
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.support.live_server import ROOT, LiveCrossline, free_port, instance_environment


def test_serve_behind_a_proxy_wants_the_proxys_address(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    with pytest.raises(CommandError, match="--trusted-proxy"):
        call_command("serve", "--no-worker", stdout=StringIO())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


@pytest.mark.live
@pytest.mark.sqlite_only(
    reason="how waitress treats forwarded headers does not depend on the database"
)
def test_serve_believes_the_trusted_proxy_that_the_request_came_over_https(tmp_path):
    env = instance_environment(tmp_path / "var")
    env.update(
        CROSSLINE_HTTPS="1",
        CROSSLINE_BEHIND_PROXY="1",
        DJANGO_ALLOWED_HOSTS="crossline.plant.example",
    )
    live = LiveCrossline(url="", var_dir=tmp_path / "var", env=env)
    (tmp_path / "var").mkdir()
    live.manage("migrate", "--noinput")
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}", "--no-worker",
         "--trusted-proxy", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/admin/login/"
        host = {"Host": "crossline.plant.example"}
        deadline = time.monotonic() + 60
        while True:
            try:
                status, location = get(url, host)
                break
            except OSError:
                assert serve.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        # Plain HTTP from the proxy: redirected to HTTPS.
        assert (status, location) == (301, "https://crossline.plant.example/admin/login/")
        # HTTPS at the proxy: served, not redirected again.
        assert get(url, {**host, "X-Forwarded-Proto": "https"}) == (200, "")
    finally:
        serve.terminate()
        serve.wait(timeout=30)
