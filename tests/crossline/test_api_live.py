"""The REST API through the real server: offline docs, 401 with WWW-Authenticate, JSON errors."""

import re
import urllib.error
import urllib.request
from email.message import Message

import pytest

from tests.crossline.test_api_contract import api_token

pytestmark = [
    pytest.mark.live,
    pytest.mark.sqlite_only(
        reason="static files, authentication headers and error bodies are HTTP, the same on "
        "either database; the contract test covers every route on MongoDB"
    ),
]


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (names in any case, as HTTP has them) and body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_api_docs_need_nothing_but_crossline_and_say_json_errors(fresh_crossline):
    live = fresh_crossline
    auth = {"Authorization": f"Token {api_token(live)}"}
    pages = {path: fetch(live.url + path, auth) for path in ("/api/docs/", "/api/redoc/")}
    assets = set()
    for path, (status, _, body) in pages.items():
        assert status == 200, path
        html = body.decode()
        references = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert references, path
        assert not [ref for ref in references if not ref.startswith("/static/")], (
            path, references
        )
        assert "//" not in "".join(references), "no other host"
        assets.update(references)
    served = {asset: fetch(live.url + asset)[0] for asset in sorted(assets)}

    anonymous = fetch(live.url + "/api/predictions/")
    wrong = fetch(live.url + "/api/predictions/", {"Authorization": "Token nope"})
    unknown = fetch(live.url + "/api/nope/", auth)
    bad_year = fetch(live.url + "/api/predictions/fail-codes-by-month/?year=99999", auth)
    malformed = fetch(live.url + "/api/vehicles/abc/", auth)

    assert served and set(served.values()) == {200}, served
    for status, headers, _ in (anonymous, wrong):
        assert status == 401
        assert headers["WWW-Authenticate"] == "Token"
    for (status, headers, body), expected in ((unknown, 404), (bad_year, 400), (malformed, 400)):
        assert status == expected
        assert headers["Content-Type"] == "application/json", body[:200]
        assert body.startswith(b'{"detail":')
