"""A pytest plugin loaded before Django's settings: the environment every test run needs.

crossline refuses to start with DJANGO_DEBUG off and no secret key; the suite (and the
worker processes it starts, which inherit this environment) signs with a key of its own.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-" + secrets.token_urlsafe(48))
