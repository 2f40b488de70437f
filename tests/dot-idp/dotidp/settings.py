"""Django settings for the test-only django-oauth-toolkit IdP (see ../README.md).

Everything is configured by server.py through environment variables before Django starts:
DOT_IDP_BASE (http://127.0.0.1:PORT), DOT_IDP_DB (SQLite file in a temp dir), and the knobs
documented in the README. Nothing here is a real secret: the server lives only on loopback,
for the length of one test.
"""

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BASE = os.environ.get("DOT_IDP_BASE", "http://127.0.0.1:8000")

# A fixed test key; this server only ever listens on loopback.
SECRET_KEY = "dot-idp-test-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "dotidp",
]

# Django's default stack (what `startproject` writes), minus clickjacking/messages we do not use.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "dotidp.urls"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DOT_IDP_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Create the tables straight from the models (`migrate --run-syncdb`), as Django's test runner does
# with MIGRATE = False: about 0.3 s instead of 5 s of migrations on a busy 2-core box.
MIGRATION_MODULES = {app: None for app in ["auth", "contenttypes", "sessions", "oauth2_provider"]}

# Fast hashing for the one test user (the default PBKDF2 costs ~0.5 s per login on a busy CI box).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        # One line per request on stderr when LOG=1.
        "django.server": {
            "handlers": ["stderr"],
            "level": "INFO" if os.environ.get("LOG") == "1" else "ERROR",
            "propagate": False,
        },
        # Tracebacks of 500s, always.
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "oauth2_provider": {
            "handlers": ["stderr"],
            "level": "DEBUG" if os.environ.get("LOG") == "1" else "ERROR",
            "propagate": False,
        },
    },
}

# An RSA key made at each start: OpenID Connect (userinfo, ID tokens) needs one.
_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)

OAUTH2_PROVIDER = {
    # RFC 8628: where the person enters the code, and how often the device may poll.
    "OAUTH_DEVICE_VERIFICATION_URI": BASE + "/o/device/",
    "OAUTH_DEVICE_VERIFICATION_URI_COMPLETE": lambda user_code: f"{BASE}/o/device/?user_code={user_code}",
    "DEVICE_FLOW_INTERVAL": int(os.environ.get("POLL_INTERVAL", "1")),
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("ACCESS_TOKEN_TTL", "3600")),
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(os.environ.get("REFRESH_TOKEN_TTL", "86400")),
    "ROTATE_REFRESH_TOKEN": True,
    # Reusing a rotated-out refresh token revokes the whole family, like oidc-provider does.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Your name",
        "email": "Your email address",
        "read": "Read access",
        "write": "Write access",
    },
    "DEFAULT_SCOPES": ["read"],
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _KEY,
    "OIDC_ISS_ENDPOINT": BASE + "/o",
    "OAUTH2_VALIDATOR_CLASS": "dotidp.validator.Validator",
}
