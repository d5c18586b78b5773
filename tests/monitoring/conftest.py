"""Notification fixtures: a real HTTP receiver on 127.0.0.1, settings that allow it, django-q2
in synchronous mode, and a tiny registered model version."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: str
    received_at: float


@dataclass
class Receiver:
    """An HTTP server in a thread: records each POST and answers from `answer(n)`."""

    answer: Callable[[int], Answer] = lambda n: (200, {}, b"ok")
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/crossline"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                             time.time())
                )
                status, headers, payload = receiver.answer(len(receiver.requests))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def signature_is_valid(request: Received, secret: str, *, tolerance: int = 300) -> bool:
    """The receiver's check, written from the documented scheme (not crossline's code)."""
    delivery = request.headers["x-crossline-delivery"]
    timestamp = request.headers["x-crossline-timestamp"]
    expected = base64.b64encode(
        hmac.new(
            secret.encode(), f"{delivery}.{timestamp}.{request.body}".encode(), hashlib.sha256
        ).digest()
    ).decode()
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(
        f"v1,{expected}", request.headers["x-crossline-signature"]
    )


def envelope_of(request: Received) -> dict:
    return json.loads(request.body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 runs each queued task at once, in this process, through its entry point."""
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)


@pytest.fixture
def local_webhooks(settings, sync_tasks):
    """Webhooks to http://127.0.0.1 allowed by the operator's settings; retries at once."""
    settings.CROSSLINE_WEBHOOK_ALLOW_HTTP = True
    settings.CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.CROSSLINE_WEBHOOK_BACKOFF_SECONDS = 0
    settings.CROSSLINE_WEBHOOK_TIMEOUT_SECONDS = 5
    return settings


@pytest.fixture(scope="session")
def tiny_pipeline() -> Pipeline:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(20, 3))
    labels = (features[:, 0] > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        features, labels
    )


@pytest.fixture
def register(tiny_pipeline):
    """Register the next version of a kind (clearing the activation gate)."""
    from mlmodels.services import register_model_version

    def register_version(type_model: str = "fail"):
        return register_model_version(
            type_model=type_model,
            pipeline=tiny_pipeline,
            threshold=0.4,
            metrics={
                "precision": 0.5, "recall": 0.7, "pr_auc": 0.66, "roc_auc": 0.8,
                "confusion_matrix": [[100, 30], [20, 50]],
                "support": {"positives": 70, "negatives": 130},
            },
        )

    return register_version
