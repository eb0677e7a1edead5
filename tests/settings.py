"""The test run's settings: core.settings with test defaults in the environment, and a fast password hasher.

Everything else comes from core.settings, so DATABASE_URL and REDIS_URL pick PostgreSQL and Redis as in
production; without them the suite runs on SQLite and the in-memory channel layer.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("REDIS_PREFIX", "fieldhub-test")
# Device credentials are sealed with it (production refuses a short or the development one, as here).
os.environ.setdefault("CREDENTIALS_KEY", "tests-only-credentials-key-0123456789-abcdefghijklmnop")

from core.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
