"""Real recorded datasets for the policy tests: PickCube at 64 px (tests/vla/conftest.py) for the unit
tests, TouchCube at 96 px (tests/vla/apps/conftest.py) for `vla train experiment=debug` end to end."""

from tests.vla.apps.conftest import debug_dataset  # noqa: F401  (fixture)
from tests.vla.conftest import recorded  # noqa: F401  (fixture)
