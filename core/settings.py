"""Fieldhub settings: everything that differs between machines comes from the environment.

The README's configuration table lists every variable. With nothing set, Fieldhub runs embedded: a SQLite
file under ``var/``, the in-memory channel layer, one daphne process. With ``DEBUG`` off (the default) it
refuses to start without a real ``SECRET_KEY`` rather than run with a guessable one.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from core.monitoring.logs import logging_config

# Django's generic classes (ModelAdmin[Endpoint], …) subscriptable at run time, as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# The development key that DEBUG mode falls back to; a production server refuses it.
DEVELOPMENT_SECRET_KEY = "fieldhub-insecure-development-key"
DEVELOPMENT_CREDENTIALS_KEY = "fieldhub-insecure-development-credentials-key"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_networks(name: str, default: str = "") -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(net, strict=False) for net in env_list(name, default)]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def env_path(name: str, default: Path) -> Path:
    raw = env_str(name)
    return Path(raw).expanduser().resolve() if raw else default


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY") or (DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=1 "
            "for development."
        )
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY is a development or short key (under 32 characters); production needs a long random one."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- data -------------------------------------------------------------------------------------------

# Every file and folder Fieldhub creates is its owner's only, from the first byte: the SQLite database holds
# sessions and password hashes (SQLite gives its WAL and SHM files the database's mode, core/sqlite), and
# Django opens a new upload with 0666 less the umask, before FILE_UPLOAD_PERMISSIONS is applied.
os.umask(0o077)

VAR_DIR = env_path("FIELDHUB_VAR_DIR", BASE_DIR / "var")
# The embedded default keeps its database, uploads and collected static files here.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(mode=0o700, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL")

if DATABASE_URL:
    _database = dj_database_url.parse(DATABASE_URL)
else:
    _database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "fieldhub.sqlite3")}

if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE transactions take the write lock up front and
    # the busy timeout makes a second writer wait for it instead of failing with "database is locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
    }
    # One writer at a time per process, queued fairly (core/sqlite/base.py).
    _database["ENGINE"] = "core.sqlite"
    # Tests use a file (not :memory:) so that a real daphne process can share the test database.
    _database["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))
    _database["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 0)
    # With persistent connections, check a reused connection before each request (one round trip), so
    # that a PostgreSQL restart costs no request. Off: faster, and the first request after a restart
    # answers 503.
    _database["CONN_HEALTH_CHECKS"] = env_bool("CONN_HEALTH_CHECKS", True)
else:
    raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// or sqlite:// URL, not {_database['ENGINE']}")
# `manage.py serve` (the embedded server) runs the downlink dispatcher and, with LESHAN_EVENTS, the Leshan
# event follower inside itself. On PostgreSQL they usually run as the Procfile's worker and leshan.
EMBEDDED_WORKERS = env_bool("EMBEDDED_WORKERS", _database["ENGINE"] == "core.sqlite")
LESHAN_EVENTS = env_bool("LESHAN_EVENTS", False)

DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
MEDIA_URL = "/media/"
# Uploaded firmware images, and the folders made for them, are readable by the owner only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Firmware images live under MEDIA_ROOT/FIRMWARE_DIR and are served by Fieldhub (devices download them).
FIRMWARE_DIR = "firmware"

STATIC_URL = "/static/"
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Served by WhiteNoise from the app folders (no collectstatic needed); `collectstatic` adds gzip copies.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- channels ---------------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if REDIS_URL:
    if urlparse(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    _LAYER_BACKENDS = {
        # One Redis publish per group message, fanned out to the sockets by each daphne process
        # (docs/benchmarks.md: the per-channel "core" layer pushed every message once per socket).
        "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "core": "channels_redis.core.RedisChannelLayer",
    }
    _layer = env_str("CHANNEL_LAYER", "pubsub")
    if _layer not in _LAYER_BACKENDS:
        raise ImproperlyConfigured(f"CHANNEL_LAYER must be one of {', '.join(_LAYER_BACKENDS)}, not {_layer!r}")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _LAYER_BACKENDS[_layer],
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("REDIS_PREFIX", "fieldhub")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Leshan -----------------------------------------------------------------------------------------

LESHAN_URL = env_str("LESHAN_URL", "http://127.0.0.1:8080").rstrip("/")
if urlparse(LESHAN_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured("LESHAN_URL must be an http:// or https:// URL")
# Seconds Leshan waits for a device (its ?timeout=).
LESHAN_TIMEOUT = env_int("LESHAN_TIMEOUT", 5, minimum=1)
# Paths observed when a device registers (the Leshan event follower queues the observations).
LESHAN_OBSERVE = env_list("LESHAN_OBSERVE")

# --- provisioning: device credentials (core/provisioning, telemetry/provisioning) -------------------------

# The secret the PSK keys are sealed with (AES-256-GCM under a key derived from it by HKDF-SHA256). Keep it
# apart from the database and its backups; changing it makes the stored keys unreadable. DEBUG falls back to
# a development key; a production server refuses a short or development one, and refuses to start without
# one once credentials are stored (the system check core.provisioning.checks, run by serve, dispatch and
# migrate: one indexed EXISTS query).
CREDENTIALS_KEY = env_str("CREDENTIALS_KEY") or (DEVELOPMENT_CREDENTIALS_KEY if DEBUG else "")
if not DEBUG and CREDENTIALS_KEY and (CREDENTIALS_KEY == DEVELOPMENT_CREDENTIALS_KEY or len(CREDENTIALS_KEY) < 32):
    raise ImproperlyConfigured(
        "CREDENTIALS_KEY is a development or short key (under 32 characters); production needs a long random "
        "one, e.g. CREDENTIALS_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    )
# How often a worker's sweep compares the credentials with Leshan's security store and re-pushes what it lost.
PROVISIONING_SYNC_MINUTES = env_int("PROVISIONING_SYNC_MINUTES", 15, minimum=1)

# --- downlink: operations queued for devices -------------------------------------------------------------

OPERATION_MAX_ATTEMPTS = env_int("OPERATION_MAX_ATTEMPTS", 3, minimum=1)
OPERATION_BACKOFF_SECONDS = env_int("OPERATION_BACKOFF_SECONDS", 10, minimum=1)
# A SENDING operation older than this was lost with its dispatcher: queued again.
OPERATION_SENDING_TIMEOUT = env_int("OPERATION_SENDING_TIMEOUT", 120, minimum=10)
# How long a request Leshan delayed (queue mode, >= 2.0.0-M17) may wait for its device.
OPERATION_DELAYED_TIMEOUT = env_int("OPERATION_DELAYED_TIMEOUT", 86400, minimum=60)
DISPATCH_CONCURRENCY = env_int("DISPATCH_CONCURRENCY", 100, minimum=1)
DISPATCH_SWEEP_SECONDS = env_int("DISPATCH_SWEEP_SECONDS", 10, minimum=1)
# Presence (telemetry.services.endpoints_expire, on a dispatcher's sweep). A device not heard from for its
# registration lifetime plus the grace is unregistered and offline, as Leshan expires a registration.
REGISTRATION_GRACE_SECONDS = env_int("REGISTRATION_GRACE_SECONDS", 60)
# The lifetime of a device whose own is not known: the flownexus bridge posts registrations without one.
DEFAULT_LIFETIME_SECONDS = env_int("DEFAULT_LIFETIME_SECONDS", 3600, minimum=1)
# A queue-mode device not heard from for this long is sleeping (Leshan's awake time, 93 s by default).
QUEUE_MODE_AWAKE_SECONDS = env_int("QUEUE_MODE_AWAKE_SECONDS", 93, minimum=1)

# --- telemetry partitions (PostgreSQL; telemetry/partitions.py) -------------------------------------------

# The period of one partition of the readings table: month, week (ISO, from Monday) or day, in UTC.
TELEMETRY_PARTITION = env_str("TELEMETRY_PARTITION", "month").lower()
if TELEMETRY_PARTITION not in {"month", "week", "day"}:
    raise ImproperlyConfigured(f"TELEMETRY_PARTITION must be month, week or day, not {TELEMETRY_PARTITION!r}")
# Readings older than this many days are dropped, a whole partition at a time (0: kept forever).
TELEMETRY_RETENTION_DAYS = env_int("TELEMETRY_RETENTION_DAYS", 0)

# --- application --------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "core.apps.AdminConfig",  # django.contrib.admin with Fieldhub's site (core.adminsite)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "django_htmx",
    "template_partials",
    "core",
    "realtime",
    "telemetry",
    "firmware",
]

MIDDLEWARE = [
    "core.monitoring.requests.RequestMiddleware",  # first: times and logs the whole request, with its id
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.middleware.RefuseNulInUrlMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.FieldhubErrorMiddleware",
]

ROOT_URLCONF = "core.urls"
ASGI_APPLICATION = "core.asgi.application"
WSGI_APPLICATION = "core.wsgi.application"

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
                "core.context_processors.role",
            ],
            "builtins": ["core.templatetags.fieldhub"],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- security -----------------------------------------------------------------------------------------
# Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=1 (it trusts X-Forwarded-Proto); the README's
# production table sets every value below so that `manage.py check --deploy` is clean.

# Proxies in front of Fieldhub whose X-Forwarded-For is believed (core.http.client_address): the client
# address of the bridge's trusted networks and of the login throttle. None by default: REMOTE_ADDR.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Leshan bridges and load-balancer health checks talk plain HTTP on the internal network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$", r"^leshan_api/", r"^firmware/package/"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent with every response (core.middleware.ContentSecurityPolicyMiddleware): scripts, styles and
# connections (the websockets too) only from Fieldhub itself; nothing inline, no frames, no plugins.
# The pages, the admin and the API docs need nothing else (the vendored htmx and uPlot included).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Login throttling (core.services.login_authenticate), counted in the database so that every process
# sees the same counters: after LOGIN_FAILURE_LIMIT failed logins for one user name, or
# LOGIN_ADDRESS_FAILURE_LIMIT from one client address (0: no limit per address), logins there are refused
# for LOGIN_LOCKOUT_SECONDS; failures older than that are forgotten, a successful login forgets them.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

# --- ingest (the Leshan bridge API) -------------------------------------------------------------------

# A bridge request is accepted with this bearer token, or without one from a trusted network.
BRIDGE_TOKEN = env_str("BRIDGE_TOKEN")
BRIDGE_TRUSTED_NETWORKS = env_networks("BRIDGE_TRUSTED_NETWORKS", "127.0.0.1/32,::1/128")
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
INGEST_MAX_RESOURCES = env_int("INGEST_MAX_RESOURCES", 5000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES, 2_621_440)

# The dashboard's sparkline: the main sensor of each device.
SPARKLINE_PATH = env_str("SPARKLINE_PATH", "/3303/0/5700")
if not re.fullmatch(r"(/\d{1,5}){3,4}", SPARKLINE_PATH):
    raise ImproperlyConfigured(f"SPARKLINE_PATH must be a resource path like /3303/0/5700, not {SPARKLINE_PATH!r}")

# --- firmware ---------------------------------------------------------------------------------------------

FIRMWARE_MAX_BYTES = env_int("FIRMWARE_MAX_BYTES", 4 * 1024 * 1024, minimum=1)
# The Package URI written to devices (5/0/1): FIRMWARE_BASE_URL + /firmware/package/..., e.g.
# http://fieldhub.example.com:8000; empty: the path alone, for devices configured with a fixed host.
FIRMWARE_BASE_URL = env_str("FIRMWARE_BASE_URL").rstrip("/")
if FIRMWARE_BASE_URL and urlparse(FIRMWARE_BASE_URL).scheme not in {"http", "https", "coap", "coaps"}:
    raise ImproperlyConfigured("FIRMWARE_BASE_URL must be an http(s):// or coap(s):// URL")
# An update that stays in one phase (queued, downloading, downloaded, updating) longer has failed.
FIRMWARE_PHASE_TIMEOUT = env_int("FIRMWARE_PHASE_TIMEOUT", 3600, minimum=10)
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- notifications of alarms (telemetry/notifications) ------------------------------------------------

# The public address of Fieldhub (http(s)://host[:port], no path), for links in notifications
# (/alarms/<id>/); empty: links are paths alone.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
if PUBLIC_BASE_URL and urlparse(PUBLIC_BASE_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be an http:// or https:// URL")
# Outgoing mail: smtp://user:password@host:port (plain), smtp+tls:// (STARTTLS), smtp+ssl:// (TLS from the
# first byte), or console:// (printed: development). Empty: e-mail notifications wait and retry, unsent.
EMAIL_URL = env_str("EMAIL_URL")
EMAIL_FROM = env_str("EMAIL_FROM", "fieldhub@localhost")
DEFAULT_FROM_EMAIL = EMAIL_FROM
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)


def email_settings(url: str) -> dict[str, Any]:
    """Django's EMAIL_* settings from an ``EMAIL_URL``."""
    if not url:
        return {}
    parsed = urlparse(url)
    if parsed.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    schemes = {"smtp": (False, False, 25), "smtp+tls": (True, False, 587), "smtp+ssl": (False, True, 465)}
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ImproperlyConfigured(
            "EMAIL_URL must be smtp://, smtp+tls:// or smtp+ssl://[user:password@]host[:port], or console://"
        )
    use_tls, use_ssl, default_port = schemes[parsed.scheme]
    try:
        port = parsed.port or default_port
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL has a port that is not a number") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }


globals().update(email_settings(EMAIL_URL))
# A message not delivered (5xx, timeout, no connection) is retried with a doubling delay from
# NOTIFY_BACKOFF_SECONDS up to NOTIFY_BACKOFF_MAX_SECONDS, for NOTIFY_RETRY_SECONDS after it was written.
NOTIFY_RETRY_SECONDS = env_int("NOTIFY_RETRY_SECONDS", 86400, minimum=1)
NOTIFY_BACKOFF_SECONDS = env_int("NOTIFY_BACKOFF_SECONDS", 10, minimum=1)
NOTIFY_BACKOFF_MAX_SECONDS = env_int("NOTIFY_BACKOFF_MAX_SECONDS", 3600, minimum=1)
# Seconds a webhook receiver or the SMTP server has to answer one message.
NOTIFY_TIMEOUT_SECONDS = env_int("NOTIFY_TIMEOUT_SECONDS", 10, minimum=1)
# A worker's lease on a message it sends: a message SENDING longer (its worker died) is due again.
NOTIFY_LEASE_SECONDS = env_int("NOTIFY_LEASE_SECONDS", 60, minimum=2)
if NOTIFY_LEASE_SECONDS <= NOTIFY_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("NOTIFY_LEASE_SECONDS must be longer than NOTIFY_TIMEOUT_SECONDS")
# More than this many messages for one channel within a minute: the rest go as one digest (per minute).
NOTIFY_DIGEST_AFTER = env_int("NOTIFY_DIGEST_AFTER", 10, minimum=1)
# How often a delivery worker looks for due messages without being woken (retries, expired leases).
NOTIFY_POLL_SECONDS = env_int("NOTIFY_POLL_SECONDS", 5, minimum=1)

# --- monitoring (core/monitoring: /metrics, /readyz, logs) ------------------------------------------------

# /metrics is served to a scraper with this bearer token, or without one from these networks (CIDRs);
# with neither it answers 404: never public.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOW = env_networks("METRICS_ALLOW")
# Off: no figure is recorded (the benchmark's baseline); /metrics still answers.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# Figures counted from the database at scrape time, one function per app.
METRICS_COLLECTORS = ["core.monitoring.collectors.database", "telemetry.metrics.collect", "firmware.metrics.collect"]
# Seconds a stopping `manage.py serve` keeps serving with /readyz failing, so that a load balancer takes it
# out before its sockets close.
SHUTDOWN_DRAIN_SECONDS = env_int("SHUTDOWN_DRAIN_SECONDS", 0)

# --- logging ------------------------------------------------------------------------------------------

# plain (human-readable, the default) or json (one object per line: core.monitoring.logs.JsonFormatter).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO").upper())
