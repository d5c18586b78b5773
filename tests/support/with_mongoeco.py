"""Run a command against a fresh mongoeco server: `python -m tests.support.with_mongoeco CMD …`.

Starts `tests.support.mongoeco_server` on a free loopback port, runs CMD with MONGODB_URI
pointing at it, stops the server, and exits with CMD's status.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Start the server, run the command, stop the server."""
    if not argv:
        print("usage: python -m tests.support.with_mongoeco CMD [ARG …]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="crossline-mongoeco-") as tmp:
        uri_file = Path(tmp) / "uri"
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.support.mongoeco_server", str(uri_file)],
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            deadline = time.monotonic() + 60
            while not uri_file.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    print("mongoeco server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            uri = uri_file.read_text()
            print(f"== MongoDB path: mongoeco at {uri} (pid {server.pid})", flush=True)
            return subprocess.call(argv, env={**os.environ, "MONGODB_URI": uri})
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
