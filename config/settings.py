"""Eventscope settings: one file, read from the environment.

The defaults let a fresh checkout run with nothing else installed (``make run``): SQLite (WAL) under
``var/``, an in-process channel layer and an in-process task worker. ``DATABASE_URL`` and
``REDIS_URL`` switch to the scaled mode (PostgreSQL, channels-redis, Celery workers on Redis) without
any code path changing. Importing this module has no side effect; what only the test suite needs is
in ``tests/settings.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from config.env import env_bool, env_int, env_list, env_secret, env_str
from dashboard.core import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state: the SQLite database, the secret key, first-run.txt. Importing these settings creates
# and writes nothing: ``manage.py bootstrap`` (the first step of ``make run``) makes the folder and
# the key, and the system checks say so when they are missing (dashboard.E005, dashboard.E006).
VAR_DIR = Path(env_str("EVENTSCOPE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Token secrets are derived from SECRET_KEY, so it must outlive a restart: from the environment (or
# the file SECRET_KEY_FILE names), else the one ``bootstrap`` generated into var/. Without either,
# debug mode runs on a key made up for this process, loudly (check dashboard.W003); otherwise it
# stays empty and the checks refuse to start (dashboard.E005).
EVENTSCOPE_SECRET_KEY_PATH = VAR_DIR / "secret_key"
SECRET_KEY = env_secret("SECRET_KEY") or secret_key.read(EVENTSCOPE_SECRET_KEY_PATH)
if not SECRET_KEY and DEBUG:
    SECRET_KEY = secret_key.ephemeral()
# Also the page origins a logged-in websocket may come from (dashboard/live/origin.py). Django's test
# client's "testserver" is added by the test environment, never here.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # The project's apps, lowest first; each imports only those listed before it (make lint checks).
    "dashboard.core.apps.CoreConfig",
    "dashboard.events.apps.EventsConfig",
    "dashboard.ingest.apps.IngestConfig",
    "dashboard.live.apps.LiveConfig",
    "tracing.apps.TracingConfig",
    "dashboard.lifecycles.apps.LifecyclesConfig",
    "dashboard.schemas.apps.SchemasConfig",
    "dashboard.servicemap.apps.ServiceMapConfig",
    "dashboard.taps.apps.TapsConfig",
    "dashboard.replay.apps.ReplayConfig",
    "dashboard.retention.apps.RetentionConfig",
    "dashboard.api.apps.ApiConfig",
    "dashboard.pages.apps.PagesConfig",
    # Development tools (make demo, make screenshots): inert in the server, see dashboard/demo/apps.py.
    "dashboard.demo.apps.DemoConfig",
]

MIDDLEWARE = [
    # Outermost: errors on API paths are JSON whichever layer below answered them.
    "dashboard.core.middleware.ApiErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "dashboard.core.middleware.SecurityHeadersMiddleware",
    "dashboard.core.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -------------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "eventscope.sqlite3"
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(dj_database_url.parse(env_str("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}"))
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing with "database is locked" half way through.
    # synchronous=NORMAL in WAL mode keeps every commit across a process crash (not an OS crash).
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        # How long a write waits for another process's write lock before the request gets a 503.
        "timeout": env_int("EVENTSCOPE_SQLITE_BUSY_TIMEOUT_MS", 30_000) / 1000,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            f"PRAGMA synchronous={env_str('EVENTSCOPE_SQLITE_SYNCHRONOUS', 'NORMAL')};"
            "PRAGMA cache_size=-65536;"
            "PRAGMA temp_store=MEMORY;"
            "PRAGMA mmap_size=268435456;"
            # A checkpoint (copying the WAL back into the database, with an fsync) runs inside
            # whichever commit crosses this many pages; the default 1,000 made every few ingest
            # commits pay for one. 10,000 pages (~40 MB of WAL) measured ~40% more events/s.
            f"PRAGMA wal_autocheckpoint={env_int('EVENTSCOPE_SQLITE_WAL_AUTOCHECKPOINT', 10000)};"
        ),
    }
if _db["ENGINE"] == "django.db.backends.postgresql" and env_bool("EVENTSCOPE_DB_POOL", True):
    # Every page request runs in its own thread with its own connection: a pool keeps that cheap.
    # A request waits at most ``timeout`` seconds for a connection (all in use, or the database
    # unreachable) and then gets a 503: the pool's own default, 30 s, outlasts every client.
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env_int("EVENTSCOPE_DB_POOL_SIZE", 20),
        "timeout": env_int("EVENTSCOPE_DB_POOL_TIMEOUT", 5),
    }
    _db["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Live layer and tasks -------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # The prefix namespaces every key: deployments (or test runs) sharing one Redis database
            # must not see each other's live items.
            "CONFIG": {
                # channels-redis waits up to 5 s for a message; a read timeout above that keeps an idle
                # connection from timing out on every wait, and the connect timeout bounds a Redis
                # that hangs instead of refusing.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 10, "socket_connect_timeout": 2}],
                "capacity": 1000,
                "expiry": 30,
                "prefix": env_str("EVENTSCOPE_CHANNEL_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The in-process queue names a host only so that kombu does not log a warning that it assumed one.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
# A Redis that is down or hangs is noticed in seconds, not after the client's defaults.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks go to and workers read; separate deployments (or test runs) sharing one Redis
# database keep apart by naming their own.
CELERY_TASK_DEFAULT_QUEUE = env_str("EVENTSCOPE_TASK_QUEUE", "celery")
# Periodic tasks (Celery beat). Each entry names a thin task in tasks/.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Persist `incomplete` on transactions past their deadline (readers compute it at query time).
    "sweep-overdue-transactions": {
        "task": "tasks.transactions.sweep_overdue_transactions",
        "schedule": env_int("EVENTSCOPE_TRANSACTION_SWEEP_SECONDS", 30),
    },
    # Resume replays left `running` by a worker that stopped (its lease expired).
    "recover-replays": {
        "task": "tasks.replay.recover_replays",
        "schedule": env_int("EVENTSCOPE_REPLAY_RECOVER_SECONDS", 5),
    },
    # Delete what is past its retention (docs/retention.md); the first run comes as the worker starts.
    "purge-expired": {
        "task": "tasks.retention.purge_expired",
        "schedule": env_int("EVENTSCOPE_RETENTION_PURGE_SECONDS", 3600),
    },
    # PostgreSQL: make the next days' partitions of the event, span and log tables (docs/retention.md).
    "keep-partitions-ahead": {
        "task": "tasks.retention.keep_partitions_ahead",
        "schedule": 3600,
    },
}
# Autodiscovery imports the `tasks` package only; its task modules are named here.
CELERY_IMPORTS = ["tasks.replay", "tasks.retention", "tasks.taps", "tasks.transactions"]
# Beat keeps its schedule state under var/, not in the current directory.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Embedded mode only: run tasks in threads of the server process (see dashboard/core/embedded_worker.py).
EVENTSCOPE_EMBEDDED_WORKER = env_bool("EVENTSCOPE_EMBEDDED_WORKER", True)
EVENTSCOPE_EMBEDDED_WORKER_THREADS = env_int("EVENTSCOPE_EMBEDDED_WORKER_THREADS", 4)
# SQLite only: a thread of the server process folds tracked events into transaction records a
# moment after ingest (see dashboard/lifecycles/folder.py). Readers fold what is pending anyway.
EVENTSCOPE_FOLDER_THREAD = env_bool("EVENTSCOPE_FOLDER_THREAD", True)
# The service map (docs/servicemap.md): off, ingest notes nothing for it and its folder does not run.
EVENTSCOPE_SERVICE_MAP = env_bool("EVENTSCOPE_SERVICE_MAP", True)
# On SIGTERM/SIGINT, how long `manage.py serve` lets requests in flight and background work finish
# before it exits anyway (see dashboard/core/server.py).
EVENTSCOPE_SHUTDOWN_GRACE_SECONDS = env_int("EVENTSCOPE_SHUTDOWN_GRACE_SECONDS", 10)

# --- Auth and sessions ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("EVENTSCOPE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- HTTPS ----------------------------------------------------------------------------------------
# Behind a reverse proxy that terminates TLS (README, "Deploying"): secure cookies, HSTS, plain HTTP
# redirected to HTTPS, and the proxy's X-Forwarded-Proto trusted to say which one a request came by
# (also X-Forwarded-For and -Port, for the addresses `manage.py serve` logs). Off by default: `make
# run` serves plain HTTP on 127.0.0.1.
EVENTSCOPE_HTTPS = env_bool("EVENTSCOPE_HTTPS", False)
if EVENTSCOPE_HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Probes (and a Prometheus scraper) may ask a web node directly, over plain HTTP, from inside the
    # network; a redirect would read to them as a failure.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("EVENTSCOPE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("EVENTSCOPE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading asks browsers' vendors to ship the domain as HTTPS-only, for good: a decision for
    # the domain's owner, not a default. Left off, Django's reminder of it (security.W021) is silenced.
    SECURE_HSTS_PRELOAD = env_bool("EVENTSCOPE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Internationalisation and time ----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "templates" / "static"]

# --- The product's own settings -------------------------------------------------------------------
# The largest request body accepted by any ingest endpoint, before and after decompression.
EVENTSCOPE_MAX_BODY_BYTES = env_int("EVENTSCOPE_MAX_BODY_BYTES", 8 * 1024 * 1024)
# Django's own parser limit stays above ours so our check (answering 413) is the one that trips.
DATA_UPLOAD_MAX_MEMORY_SIZE = EVENTSCOPE_MAX_BODY_BYTES + 1024 * 1024
EVENTSCOPE_MAX_BATCH = env_int("EVENTSCOPE_MAX_BATCH", 500)
EVENTSCOPE_ACCOUNT = env_str("EVENTSCOPE_ACCOUNT", "000000000000")
EVENTSCOPE_REGION = env_str("EVENTSCOPE_REGION", "local")
# Threads that run ingest requests (they keep their database connections), and how many ingest
# requests may be in flight before new ones are answered 503 with Retry-After.
EVENTSCOPE_INGEST_THREADS = env_int("EVENTSCOPE_INGEST_THREADS", 4)
EVENTSCOPE_INGEST_MAX_INFLIGHT = env_int("EVENTSCOPE_INGEST_MAX_INFLIGHT", 64)
# GET /metrics without a token (a scraper inside the network); otherwise it needs the read scope.
EVENTSCOPE_METRICS_PUBLIC = env_bool("EVENTSCOPE_METRICS_PUBLIC", False)
# How long a verified token stays cached in-process, so ingest does not query it on every request.
EVENTSCOPE_TOKEN_CACHE_SECONDS = env_int("EVENTSCOPE_TOKEN_CACHE_SECONDS", 10)
# Replay (docs/replay.md). Consumer URLs: hosts, ".domain" suffixes and CIDRs; when ALLOW is set,
# only what it lists may be delivered to. Link-local and metadata addresses are refused regardless.
EVENTSCOPE_CONSUMER_ALLOW = env_list("EVENTSCOPE_CONSUMER_ALLOW", [])
EVENTSCOPE_CONSUMER_DENY = env_list("EVENTSCOPE_CONSUMER_DENY", [])
EVENTSCOPE_REPLAY_CONNECT_TIMEOUT = env_int("EVENTSCOPE_REPLAY_CONNECT_TIMEOUT", 5)
EVENTSCOPE_REPLAY_READ_TIMEOUT = env_int("EVENTSCOPE_REPLAY_READ_TIMEOUT", 15)
# Attempts per delivery before it is dead-lettered; backoff doubles from BACKOFF_MS up to MAX_BACKOFF_MS.
EVENTSCOPE_REPLAY_MAX_ATTEMPTS = env_int("EVENTSCOPE_REPLAY_MAX_ATTEMPTS", 5)
EVENTSCOPE_REPLAY_BACKOFF_MS = env_int("EVENTSCOPE_REPLAY_BACKOFF_MS", 1000)
EVENTSCOPE_REPLAY_MAX_BACKOFF_MS = env_int("EVENTSCOPE_REPLAY_MAX_BACKOFF_MS", 60_000)
# A run holds its replay for this long and renews it while working; a replay whose run stopped is
# resumed once the lease has expired.
EVENTSCOPE_REPLAY_LEASE_SECONDS = env_int("EVENTSCOPE_REPLAY_LEASE_SECONDS", 20)
# Broker taps (docs/taps.md): the process running a tap holds it for LEASE seconds and renews it; a
# tap whose process died is taken over once that has passed. Messages per commit, and the first wait
# before reconnecting to a broker that went away (doubling up to 30 s).
EVENTSCOPE_TAP_LEASE_SECONDS = env_int("EVENTSCOPE_TAP_LEASE_SECONDS", 15)
EVENTSCOPE_TAP_BATCH = env_int("EVENTSCOPE_TAP_BATCH", 500)
EVENTSCOPE_TAP_BACKOFF_MS = env_int("EVENTSCOPE_TAP_BACKOFF_MS", 500)
# Embedded mode only: the server runs the taps. Off, this server runs none (and takes none over from
# another process on the same database).
EVENTSCOPE_EMBEDDED_TAPS = env_bool("EVENTSCOPE_EMBEDDED_TAPS", True)
# How long JetStream waits for a tap's ack before delivering a message again.
EVENTSCOPE_TAP_ACK_WAIT_SECONDS = env_int("EVENTSCOPE_TAP_ACK_WAIT_SECONDS", 30)
# Live tail: frames a websocket may have waiting before further matches are counted as dropped.
EVENTSCOPE_LIVE_BUFFER = env_int("EVENTSCOPE_LIVE_BUFFER", 1000)
# How long lifecycle definitions stay cached in-process for ingest; a change made in another process
# is picked up within this many seconds (in this process at once).
EVENTSCOPE_LIFECYCLE_CACHE_SECONDS = env_int("EVENTSCOPE_LIFECYCLE_CACHE_SECONDS", 1)
# Schema discovery at ingest (docs/schemas.md), and how long a type's versions stay cached
# in-process: a pin made in another process is applied within this many seconds.
EVENTSCOPE_SCHEMA_DISCOVERY = env_bool("EVENTSCOPE_SCHEMA_DISCOVERY", True)
EVENTSCOPE_SCHEMA_CACHE_SECONDS = env_int("EVENTSCOPE_SCHEMA_CACHE_SECONDS", 2)

# Retention (docs/retention.md): days each kind is kept after it was received; 0 keeps it forever,
# unset or empty is the default. The purge runs every PURGE_SECONDS (for at most that long), deleting
# BATCH_SIZE rows a write transaction and pausing between them at least PAUSE_MS, and at least
# PAUSE_FACTOR times as long as the batch took: ingest never waits for more than one batch, and the
# purge holds the (SQLite) write lock for at most 1 / (1 + PAUSE_FACTOR) of the time.
EVENTSCOPE_RETENTION_DAYS_EVENTS = env_int("EVENTSCOPE_RETENTION_DAYS_EVENTS", 30)
EVENTSCOPE_RETENTION_DAYS_SPANS = env_int("EVENTSCOPE_RETENTION_DAYS_SPANS", 7)
EVENTSCOPE_RETENTION_DAYS_LOGS = env_int("EVENTSCOPE_RETENTION_DAYS_LOGS", 7)
# The service map's rollups: 31 days, the longest window the map answers (docs/servicemap.md).
EVENTSCOPE_RETENTION_DAYS_SERVICEMAP = env_int("EVENTSCOPE_RETENTION_DAYS_SERVICEMAP", 31)
# Transaction records: as long as the events they point at, counted from the later of the record's
# deadline and its last change.
EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS = env_int("EVENTSCOPE_RETENTION_DAYS_TRANSACTIONS", 30)
EVENTSCOPE_RETENTION_PURGE_SECONDS = env_int("EVENTSCOPE_RETENTION_PURGE_SECONDS", 3600)
EVENTSCOPE_RETENTION_BATCH_SIZE = env_int("EVENTSCOPE_RETENTION_BATCH_SIZE", 1000)
EVENTSCOPE_RETENTION_PAUSE_MS = env_int("EVENTSCOPE_RETENTION_PAUSE_MS", 50)
EVENTSCOPE_RETENTION_PAUSE_FACTOR = env_int("EVENTSCOPE_RETENTION_PAUSE_FACTOR", 4)

_LOG_LEVEL = env_str("EVENTSCOPE_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Bad requests refused (4xx, django.security.*) are logged at INFO without a traceback.
    "filters": {
        "refusals_at_info": {"()": "dashboard.core.logging_filters.RefusalsAtInfo"},
        # Celery's INFO line for every task run and beat entry sent (every few seconds, whatever
        # happens) is DEBUG; a failure stays at ERROR.
        "celery_routine_at_debug": {"()": "dashboard.core.logging_filters.CeleryRoutineAtDebug"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["refusals_at_info", "celery_routine_at_debug"],
        }
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {
        # Django's own handlers (a second console in debug mode, mail to ADMINS) are dropped: its
        # records go to the console above, once, through the filter.
        "django": {"handlers": [], "level": _LOG_LEVEL},
        "daphne": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
