"""crossline's settings, read from the environment; a bad value raises ImproperlyConfigured."""

import ipaddress
import os
from datetime import datetime
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from pymongo.errors import InvalidURI
from pymongo.uri_parser import parse_uri

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CROSSLINE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str) -> str:
    """A string setting."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole-number setting, at least `minimum`."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_float(name: str, default: float, *, low: float, high: float) -> float:
    """A number setting between `low` and `high`."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={raw!r} must be between {low} and {high}.")
    return value


def label_window_days(default: int = 14) -> int:
    """CROSSLINE_LABEL_WINDOW_DAYS; unset, the earlier CROSSLINE_FEEDBACK_WINDOW_DAYS (where its
    0 meant "never closes", now the default)."""
    if os.environ.get("CROSSLINE_LABEL_WINDOW_DAYS", ""):
        return env_int("CROSSLINE_LABEL_WINDOW_DAYS", default)
    return env_int("CROSSLINE_FEEDBACK_WINDOW_DAYS", default) or default


def env_date(name: str, default: str) -> datetime:
    """A calendar date (YYYY-MM-DD) from the environment, as a naive midnight datetime."""
    value = os.environ.get(name, default).strip()
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a date YYYY-MM-DD, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list setting."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """A comma-separated list of IP networks (`10.0.0.0/8`, `fd00::/8`, one address)."""
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP network.") from None
    return networks


def mailer(name: str) -> dict:
    """The default mailer: the console (the default) or SMTP, from CROSSLINE_EMAIL_* settings."""
    choice = env_str(name, "console").strip().lower()
    if choice == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if choice != "smtp":
        raise ImproperlyConfigured(f"{name}={choice!r}: use console or smtp.")
    use_tls = env_bool("CROSSLINE_EMAIL_USE_TLS", False)
    use_ssl = env_bool("CROSSLINE_EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ImproperlyConfigured(
            "CROSSLINE_EMAIL_USE_TLS and CROSSLINE_EMAIL_USE_SSL are exclusive: STARTTLS on a "
            "plain port (587) or TLS from the start (465), not both."
        )
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": env_str("CROSSLINE_EMAIL_HOST", "localhost"),
            "port": env_int("CROSSLINE_EMAIL_PORT", 25, minimum=1),
            "username": env_str("CROSSLINE_EMAIL_USER", ""),
            "password": env_str("CROSSLINE_EMAIL_PASSWORD", ""),
            "use_tls": use_tls,
            "use_ssl": use_ssl,
            "timeout": env_int("CROSSLINE_EMAIL_TIMEOUT_SECONDS", 30, minimum=1),
        },
    }


def mongodb_database(uri: str) -> str:
    """The database name in a `mongodb://host/dbname` URI; refuses a malformed URI."""
    database = _parse_mongodb_uri(uri).get("database")
    if not database:
        raise ImproperlyConfigured(
            "MONGODB_URI must name the database: mongodb://host:27017/dbname"
        )
    return database


def _parse_mongodb_uri(uri: str) -> dict:
    try:
        return parse_uri(uri, validate=True, warn=False, connect_timeout=None)
    except (InvalidURI, ValueError) as exc:
        raise ImproperlyConfigured(f"MONGODB_URI is not a valid MongoDB URI: {exc}") from None


READ_PREFERENCES = ("primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest")


def mongodb_databases(uri: str, *, statistics_read_preference: str = "primary") -> dict:
    """DATABASES for MONGODB_URI. Its options (`replicaSet`, `retryWrites`, `w`, `readConcernLevel`,
    TLS, credentials…) reach pymongo as written; OPTIONS only adds a server selection timeout
    when the URI gives none. Statistics may read from secondaries (a `statistics` alias)."""
    options = _parse_mongodb_uri(uri)["options"]
    if options.get("readPreference", "primary") != "primary":
        # A compare-and-set is followed by reads of what it wrote: they must see it.
        raise ImproperlyConfigured(
            f"MONGODB_URI: readPreference={options['readPreference']} would read crossline's "
            "own writes from a secondary that may not have them yet; leave it out (primary) "
            "and set CROSSLINE_STATISTICS_READ_PREFERENCE for the statistics instead."
        )
    if statistics_read_preference not in READ_PREFERENCES:
        raise ImproperlyConfigured(
            f"CROSSLINE_STATISTICS_READ_PREFERENCE={statistics_read_preference!r}: use one of "
            f"{', '.join(READ_PREFERENCES)}."
        )
    client_options = {}
    if "serverSelectionTimeoutMS" not in options:
        # Fail fast when the one server is down; a replica set needs time to elect a new
        # primary (about 10 s), which retried writes wait for (pymongo's default, 30 s).
        client_options["serverSelectionTimeoutMS"] = 30_000 if "replicaSet" in options else 5_000
    default = {
        "ENGINE": "crossline.mongodb",
        "HOST": uri,
        "NAME": mongodb_database(uri),
        "OPTIONS": client_options,
    }
    databases = {"default": default}
    if statistics_read_preference != "primary":
        databases["statistics"] = {
            **default,
            "OPTIONS": {**client_options, "readPreference": statistics_read_preference},
            "TEST": {"MIRROR": "default"},
        }
    return databases


def secret_key(debug: bool) -> str:
    """DJANGO_SECRET_KEY, else the key `make run` keeps in var/; only DEBUG may do without."""
    key = os.environ.get("DJANGO_SECRET_KEY", "").strip()
    if key:
        return key
    kept = VAR_DIR / "secret-key.txt"
    if kept.is_file() and (key := kept.read_text().strip()):
        return key
    if debug:
        # Development only: a public key is harmless where nothing is worth protecting.
        return "crossline-insecure-development-key-never-used-with-DJANGO_DEBUG-0"
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: crossline will not sign "
        "sessions and tokens with a public key. Set DJANGO_SECRET_KEY to a long random value "
        f"(`make run` generates one in {kept}), or DJANGO_DEBUG=1 for development."
    )


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret_key(DEBUG)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

MONGODB_URI = os.environ.get("MONGODB_URI", "").strip()
USE_MONGODB = bool(MONGODB_URI)

if USE_MONGODB:
    # crossline.mongodb: django-mongodb-backend, with single-document writes sent as such, so
    # that a replica set retries them after a failover (crossline/mongodb/__init__.py).
    DATABASES = mongodb_databases(
        MONGODB_URI,
        statistics_read_preference=env_str("CROSSLINE_STATISTICS_READ_PREFERENCE", "primary"),
    )
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    DATABASE_ROUTERS = ["django_mongodb_backend.routers.MongoRouter"]
    # The contrib apps and django-q2 hard-code integer AutoFields in their migrations.
    MIGRATION_MODULES = {
        label: f"crossline.mongo_migrations.{label}"
        for label in (
            "admin",
            "auth",
            "contenttypes",
            "django_q",
            "crossline",
            "plant",
            "training",
            "mlmodels",
            "predictions",
            "monitoring",
        )
    }
    CONTRIB_APPS = [
        "crossline.mongo_apps.MongoAdminConfig",
        "crossline.mongo_apps.MongoAuthConfig",
        "crossline.mongo_apps.MongoContentTypesConfig",
        "django.contrib.sessions",
        "crossline.mongo_apps.MongoDjangoQConfig",
        "rest_framework.authtoken",
        "django_mongodb_backend",
    ]
    STORAGE_BACKEND = "crossline.storage.GridFSStorage"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": Path(os.environ.get("CROSSLINE_SQLITE_PATH", VAR_DIR / "crossline.sqlite3")),
            # One connection per server thread, kept between requests: opening one (and its
            # PRAGMAs) was a millisecond of every request. Errors still close it (Django).
            "CONN_MAX_AGE": 600,
            # A file, not memory, so that django-q2 workers in other processes see test data.
            "TEST": {"NAME": VAR_DIR / "test-crossline.sqlite3"},
            # Import and training write while the web process reads; wait rather than fail.
            # In WAL mode synchronous=NORMAL cannot corrupt the database; it syncs at
            # checkpoints instead of at every commit (a power cut may lose the last commits).
            # IMMEDIATE: a transaction takes the write lock when it starts, so that it waits
            # for another writer instead of failing with "database is locked" on its first write.
            "OPTIONS": {
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    CONTRIB_APPS = [
        "crossline.admin_site.CrosslineAdminConfig",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django_q",
        "rest_framework.authtoken",
    ]
    STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"

INSTALLED_APPS = [
    *CONTRIB_APPS,
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crossline",
    "plant",
    "training",
    "mlmodels",
    "predictions",
    "monitoring",
]

MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (collected into STATIC_ROOT) served by the WSGI server's own process.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crossline.urls"
WSGI_APPLICATION = "crossline.wsgi.application"
ASGI_APPLICATION = "crossline.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "crossline" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Production behind HTTPS (README, "Production"): CROSSLINE_HTTPS=1 turns on the redirect,
# secure cookies and HSTS that `manage.py check --deploy` asks for.
CROSSLINE_HTTPS = env_bool("CROSSLINE_HTTPS", False)
SECURE_SSL_REDIRECT = CROSSLINE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probed over plain HTTP on the host itself
SESSION_COOKIE_SECURE = CROSSLINE_HTTPS
CSRF_COOKIE_SECURE = CROSSLINE_HTTPS
SECURE_HSTS_SECONDS = env_int("CROSSLINE_HSTS_SECONDS", 31_536_000 if CROSSLINE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CROSSLINE_HSTS_INCLUDE_SUBDOMAINS", CROSSLINE_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("CROSSLINE_HSTS_PRELOAD", CROSSLINE_HTTPS)
if env_bool("CROSSLINE_BEHIND_PROXY", False):
    # Only behind a proxy that sets this header itself (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CROSSLINE_CSRF_TRUSTED_ORIGINS", [])

# Log-in throttling (admin and browsable API): after this many failures for one user name
# from one address, further attempts are refused until the lockout has passed.
AUTHENTICATION_BACKENDS = ["crossline.auth.ThrottledModelBackend"]
CROSSLINE_LOGIN_MAX_FAILURES = env_int("CROSSLINE_LOGIN_MAX_FAILURES", 10, minimum=1)
CROSSLINE_LOGIN_LOCKOUT_SECONDS = env_int("CROSSLINE_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CROSSLINE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Uploads: Django spools anything above 2.5 MB to a temporary file; crossline refuses exports
# above CROSSLINE_MAX_UPLOAD_BYTES before reading them.
CROSSLINE_MAX_UPLOAD_BYTES = env_int("CROSSLINE_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
# What an export may unpack to (gzip, .xlsx, Parquet), enforced while it is read.
CROSSLINE_MAX_UNCOMPRESSED_BYTES = env_int(
    "CROSSLINE_MAX_UNCOMPRESSED_BYTES", 16 * 1024**3, minimum=1
)
# Plant timestamps outside [earliest date, now + days ahead] are clock errors: rows rejected
# and counted in the import's report.
CROSSLINE_EARLIEST_DATE = env_date("CROSSLINE_EARLIEST_DATE", "2000-01-01")
CROSSLINE_DAYS_AHEAD = env_int("CROSSLINE_DAYS_AHEAD", 1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "crossline.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Training and prediction.
# Unset: the pipeline definition's own `min_positives` and `target_recall` apply.
CROSSLINE_MIN_POSITIVES = (
    env_int("CROSSLINE_MIN_POSITIVES", 30, minimum=1)
    if os.environ.get("CROSSLINE_MIN_POSITIVES")
    else None
)
CROSSLINE_TARGET_RECALL = (
    env_float("CROSSLINE_TARGET_RECALL", 0.8, low=0.0, high=1.0)
    if os.environ.get("CROSSLINE_TARGET_RECALL")
    else None
)
CROSSLINE_AUTO_PROMOTE = env_bool("CROSSLINE_AUTO_PROMOTE", False)
CROSSLINE_PROMOTE_METRIC = env_str("CROSSLINE_PROMOTE_METRIC", "pr_auc")
CROSSLINE_PROMOTE_MARGIN = env_float("CROSSLINE_PROMOTE_MARGIN", 0.01, low=0.0, high=1.0)
# The activation gate: a version predicts (without an override) only when its test set holds
# this many positives and the odds of its PR-AUC are at least this many times those of the test
# prevalence (about this many times the prevalence for a rare kind).
CROSSLINE_GATE_MIN_POSITIVES = env_int("CROSSLINE_GATE_MIN_POSITIVES", 30, minimum=0)
CROSSLINE_GATE_MIN_LIFT = env_float("CROSSLINE_GATE_MIN_LIFT", 1.5, low=0.0, high=1000.0)
# The labelling window: a vehicle with no defect recorded within this many days after its last
# test counts as defect-free from then on (realised metrics count only closed windows). The
# default; staff change it in the admin (Predictions › Inspection capacity). The variable's
# earlier name, CROSSLINE_FEEDBACK_WINDOW_DAYS, is still read when the new one is not set.
CROSSLINE_LABEL_WINDOW_DAYS = label_window_days()
# Monitoring: a production month with fewer vehicles is too few to judge, for input drift and
# estimated performance alike, and a training month with fewer sets no drift threshold
# (NannyML's minimum chunk for drift; lower only to rehearse on small data).
CROSSLINE_DRIFT_MIN_VEHICLES = env_int("CROSSLINE_DRIFT_MIN_VEHICLES", 500, minimum=1)
# How often a column drifts by chance in an unshifted month: a drift alarm needs more drifted
# columns than this rate explains in 0.1% of months (about 1% at 500 vehicles a month and more;
# higher only to rehearse on small months, whose thresholds are noisier).
CROSSLINE_DRIFT_CHANCE = env_float("CROSSLINE_DRIFT_CHANCE", 0.01, low=0.0001, high=0.5)
# The most indicated tests a vehicle on a worklist sized by an inspection capacity gets, those
# of its most likely fail groups first.
CROSSLINE_WORKLIST_TESTS_PER_VEHICLE = env_int(
    "CROSSLINE_WORKLIST_TESTS_PER_VEHICLE", 3, minimum=1
)
CROSSLINE_BATCH_SYNC_LIMIT = env_int("CROSSLINE_BATCH_SYNC_LIMIT", 200, minimum=0)
# A batch predicted within its request (at most CROSSLINE_BATCH_SYNC_LIMIT vehicles, seconds of
# work) and still running this long after it began lost its web process: the reaper fails it.
CROSSLINE_INLINE_BATCH_STALE_SECONDS = env_int(
    "CROSSLINE_INLINE_BATCH_STALE_SECONDS", 900, minimum=60
)

# Imports and training runs beat every CROSSLINE_HEARTBEAT_SECONDS, also during long steps. An
# import silent for CROSSLINE_IMPORT_STALE_SECONDS, or a run silent for
# CROSSLINE_RUN_STALE_SECONDS, died with its process, and the reaper (a django-q2 schedule, every
# minute) cleans up after it. Uploads (API, admin) up to CROSSLINE_IMPORT_INLINE_BYTES import
# within the request; larger ones are stored and imported by a worker. /healthz answers 503
# while a run is stale or while the oldest waiting task has waited CROSSLINE_QUEUE_STALL_SECONDS
# with no worker busy (0: not checked).
CROSSLINE_IMPORT_INLINE_BYTES = env_int("CROSSLINE_IMPORT_INLINE_BYTES", 8 * 1024**2, minimum=0)
CROSSLINE_HEARTBEAT_SECONDS = env_int("CROSSLINE_HEARTBEAT_SECONDS", 15, minimum=1)
CROSSLINE_IMPORT_STALE_SECONDS = env_int("CROSSLINE_IMPORT_STALE_SECONDS", 120, minimum=2)
CROSSLINE_RUN_STALE_SECONDS = env_int("CROSSLINE_RUN_STALE_SECONDS", 120, minimum=2)
for _name in ("CROSSLINE_IMPORT_STALE_SECONDS", "CROSSLINE_RUN_STALE_SECONDS"):
    if globals()[_name] < 2 * CROSSLINE_HEARTBEAT_SECONDS:
        raise ImproperlyConfigured(
            f"{_name}={globals()[_name]} must be at least twice "
            f"CROSSLINE_HEARTBEAT_SECONDS={CROSSLINE_HEARTBEAT_SECONDS}, or live work looks dead."
        )
CROSSLINE_QUEUE_STALL_SECONDS = env_int("CROSSLINE_QUEUE_STALL_SECONDS", 300)

# Notifications. E-mail to the staff who subscribe goes through Django's default mailer: the
# console (the worker's output) unless CROSSLINE_EMAIL_BACKEND=smtp. (Django 6.1's MAILERS:
# the EMAIL_HOST… settings are deprecated.)
MAILERS = {"default": mailer("CROSSLINE_EMAIL_BACKEND")}
DEFAULT_FROM_EMAIL = env_str("CROSSLINE_EMAIL_FROM", "crossline@localhost")
EMAIL_SUBJECT_PREFIX = "[crossline] "
# Webhooks: https only unless CROSSLINE_WEBHOOK_ALLOW_HTTP=1; an endpoint whose address is not
# public (private, loopback, link-local…) is refused unless it lies in one of the operator's
# CROSSLINE_WEBHOOK_ALLOWED_NETWORKS (e.g. the MES's 10.20.0.0/16), checked when an endpoint is
# saved and again on every connection. Failed deliveries are retried after
# CROSSLINE_WEBHOOK_BACKOFF_SECONDS, doubling each time (or the receiver's Retry-After), never
# waiting more than CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS.
CROSSLINE_WEBHOOK_ALLOW_HTTP = env_bool("CROSSLINE_WEBHOOK_ALLOW_HTTP", False)
CROSSLINE_WEBHOOK_ALLOWED_NETWORKS = env_networks("CROSSLINE_WEBHOOK_ALLOWED_NETWORKS")
CROSSLINE_WEBHOOK_TIMEOUT_SECONDS = env_int("CROSSLINE_WEBHOOK_TIMEOUT_SECONDS", 30, minimum=1)
CROSSLINE_WEBHOOK_BACKOFF_SECONDS = env_int("CROSSLINE_WEBHOOK_BACKOFF_SECONDS", 30)
CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS = env_int("CROSSLINE_WEBHOOK_MAX_DELAY_SECONDS", 3600)

# django-q2: the ORM broker on the active database. `timeout` stays below `retry` so that a
# long training run is never handed to a second worker; failed tasks are not re-run.
Q_TIMEOUT = env_int("CROSSLINE_TASK_TIMEOUT", 4 * 3600, minimum=10)
Q_CLUSTER = {
    "name": "crossline",
    "orm": "default",
    "workers": env_int("CROSSLINE_WORKERS", 1, minimum=1),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 600,
    "max_attempts": 1,
    "catch_up": False,
    "poll": 1,
    "save_limit": 1000,
    "label": "Task queue",
}

# Token first: a client without credentials or with a wrong token gets 401 with
# `WWW-Authenticate: Token`; the session serves the browsable API and the docs.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crossline.api.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crossline.api.StaffWritesPermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "crossline.api.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # One content type per request body: JSON; uploads set multipart themselves
    # (`crossline.api_fields.UPLOAD_PARSERS`), so that a generated client offers one form.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_FILTER_BACKENDS": [
        "crossline.api.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "crossline.api.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "crossline.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crossline.api.exception_handler",
    # Per client address, in the process's cache: guessing passwords through the token route,
    # or tokens on any route.
    "DEFAULT_THROTTLE_RATES": {"auth-token": "10/min", "bad-token": "10/min"},
    # The client is REMOTE_ADDR: an X-Forwarded-For sent by the client must not dodge the limit.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "crossline",
    "DESCRIPTION": (
        "Predicts which vehicles (KNRs) will show defects before the final road test, and in "
        "which fail group. Authenticate with `Authorization: Token <key>` (from "
        "`POST /api/auth/token/`). Every error has the shape "
        '`{"detail": "...", "code": "...", "errors": {"field": ["..."]}}`.'
    ),
    "VERSION": "1.0.0",
    # Plants have no internet: Swagger UI and Redoc are served from crossline's static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs are public, so that a client generator can read them; every
    # route they describe keeps its authentication.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Separate request and response components: an upload is a binary file, not a URI.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DatasetStatusEnum": "plant.models.Dataset.Status",
        "RunStatusEnum": "training.models.TrainingRun.Status",  # batches use the same
        "TrainingRunKindEnum": "training.models.TrainingRun.Kind",
        "DatasetKindEnum": "plant.models.DatasetKind",
        "ThresholdPolicyEnum": "mlmodels.models.ThresholdPolicy.Policy",
        "F2PolicyEnum": ["f2"],
        "SharePolicyEnum": ["capacity", "recall"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crossline.api.describe_parameters",
        "crossline.api_fields.describe_strings",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("CROSSLINE_LOG_LEVEL", "WARNING")},
    # At DEBUG the database drivers log every query's parameters and every document written or
    # read: webhook secrets, password hashes, API tokens. They stay at INFO whatever
    # CROSSLINE_LOG_LEVEL says.
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pymongo": {"level": "INFO"},
    },
}
