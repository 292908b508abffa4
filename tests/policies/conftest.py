"""A real recorded dataset for the policy tests: 2 expert episodes of TouchCube at 96 px, the env's
default images (tests/vla/apps/conftest.py; recording it takes ~1 s)."""

from tests.vla.apps.conftest import debug_dataset  # noqa: F401  (fixture)
