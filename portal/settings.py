"""Settings for ML Portal, read from the environment.

With no environment at all the portal runs on the embedded default: SQLite, a Celery
broker on the filesystem and MLflow on SQLite, everything under ``var/``. Setting
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``MLFLOW_TRACKING_URI`` moves it to
PostgreSQL, Redis and an MLflow server with no code change.
"""

import os
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

# Lets generic classes such as ModelAdmin[Project] be subscripted at run time, as the type
# stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
INSECURE_DEFAULT_SECRET = "insecure-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_DEFAULT_SECRET)
PRODUCTION = env.bool("PORTAL_PRODUCTION", default=False)
if PRODUCTION and (DEBUG or SECRET_KEY == INSECURE_DEFAULT_SECRET):
    raise ImproperlyConfigured(
        "PORTAL_PRODUCTION is set: DJANGO_DEBUG must be off and DJANGO_SECRET_KEY must be set."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.datasets",
    "apps.iterations",
    "apps.approvals",
    "apps.deployments",
    "apps.dashboards",
    "apps.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "portal.urls"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-backed test database lets a separate worker process see the same data. The
    # process id in its name keeps test runs started side by side from sharing one file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

# The sign-in throttle counts failures here, so every web process must share one cache: files
# under var/ on one machine, Redis (CACHE_URL=rediscache://host:6379/1) across machines.
# NOTE: the file cache increments with a read and a write, so concurrent failures on one
# machine may be undercounted by a few; Redis increments atomically.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# Outside production whitenoise also serves straight from the source folders, so the
# portal works before (or without) collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(env.str("PORTAL_MEDIA_ROOT", default=str(VAR_DIR / "media")))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
X_FRAME_OPTIONS = "DENY"

# plotly.js writes style attributes on the elements it draws, so inline styles stay allowed;
# scripts come only from our own static files.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ML Portal API",
    "DESCRIPTION": (
        "Frame machine learning projects, upload datasets, train iterations, decide "
        "promotions and get predictions. Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MetricKindEnum": "apps.projects.models.MetricKind",
        "ReadinessEnum": "apps.projects.framing.Readiness",
        "TargetVerdictEnum": ["met", "missed", "undefined"],
        "DecisionVerdictEnum": "apps.approvals.models.Verdict",
    },
}

# Celery. The embedded default uses kombu's filesystem transport, which needs no server;
# CELERY_BROKER_URL=redis://... switches to Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="cpu")
# Training runs on the cpu queue. Deploying, rollouts and batch scoring have a queue of their
# own, so an approved deployment does not wait behind a long training run. A GPU queue would
# get its own route too.
CELERY_TASK_ROUTES = {
    "apps.iterations.tasks.*": {"queue": "cpu"},
    "apps.deployments.tasks.*": {"queue": "serving"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "reap-stale-iterations": {
        "task": "apps.iterations.tasks.reap_stale_iterations",
        "schedule": 60.0,
    },
    "reap-stale-deployments": {
        "task": "apps.deployments.tasks.reap_stale_deployments",
        "schedule": 60.0,
    },
    "send-notification-digests": {
        "task": "apps.audit.tasks.send_notification_digests",
        "schedule": crontab(hour=7, minute=0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# A running iteration stamps a heartbeat this often. The reaper fails it once the stamp is
# older than the stale limit, so a killed worker's run ends failed within about four minutes.
ITERATION_HEARTBEAT_SECONDS = env.int("PORTAL_ITERATION_HEARTBEAT_SECONDS", default=30)
ITERATION_STALE_AFTER_SECONDS = env.int("PORTAL_ITERATION_STALE_AFTER_SECONDS", default=180)
# Longer than the deploy task's hard time limit (660 s), so only a dead task is reaped.
DEPLOYMENT_STALE_AFTER_SECONDS = env.int("PORTAL_DEPLOYMENT_STALE_AFTER_SECONDS", default=900)

# MLflow. Only apps.iterations.mlflow_adapter reads these.
MLFLOW_TRACKING_URI = env.str(
    "MLFLOW_TRACKING_URI", default=f"sqlite:///{VAR_DIR / 'mlflow.sqlite3'}"
)
MLFLOW_ARTIFACT_ROOT = env.str("MLFLOW_ARTIFACT_ROOT", default=(VAR_DIR / "mlartifacts").as_uri())

DATASET_MAX_UPLOAD_BYTES = env.int("PORTAL_DATASET_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
PREDICT_MAX_INSTANCES = env.int("PORTAL_PREDICT_MAX_INSTANCES", default=10_000)
# Prediction requests with a larger body get 413 before it is read. It stays below
# DATA_UPLOAD_MAX_MEMORY_SIZE, which Django enforces as a 400.
PREDICT_MAX_BODY_BYTES = env.int("PORTAL_PREDICT_MAX_BODY_BYTES", default=8 * 1024 * 1024)
# Seconds a serving process reuses what it read about the live version and rollouts. A new
# live version, a rollback or a retirement reaches every process within this bound.
SERVING_REFRESH_SECONDS = env.float("PORTAL_SERVING_REFRESH_SECONDS", default=2.0)
# Seconds the predict endpoint reuses a verified token and project membership; a revoked
# token or a removed member is refused within this bound. 0 checks the database every time.
SERVING_ACCESS_CACHE_SECONDS = env.float("PORTAL_SERVING_ACCESS_CACHE_SECONDS", default=2.0)
# Share of prediction requests (0 to 1) written to the prediction log; shadow rollouts score
# only logged requests.
PREDICTION_LOG_SAMPLE_RATE = env.float("PORTAL_PREDICTION_LOG_SAMPLE_RATE", default=1.0)
PREDICTION_LOG_INPUTS = env.bool("PORTAL_PREDICTION_LOG_INPUTS", default=False)
PREDICTION_LOG_BACKGROUND = env.bool("PORTAL_PREDICTION_LOG_BACKGROUND", default=True)
PREDICTION_LOG_FLUSH_SECONDS = env.float("PORTAL_PREDICTION_LOG_FLUSH_SECONDS", default=1.0)
PREDICTION_LOG_BUFFER_MAX = env.int("PORTAL_PREDICTION_LOG_BUFFER_MAX", default=50_000)
BATCH_MAX_UPLOAD_BYTES = env.int("PORTAL_BATCH_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)

MAILERS = {
    "default": {
        "BACKEND": env.str(
            "PORTAL_EMAIL_BACKEND",
            default="django.core.mail.backends.smtp.EmailBackend"
            if PRODUCTION
            else "django.core.mail.backends.console.EmailBackend",
        ),
    },
}
# Links in notification emails start with this, such as https://portal.example.com.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("PORTAL_LOG_LEVEL", default="INFO")},
    "loggers": {
        "alembic": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
    },
}
