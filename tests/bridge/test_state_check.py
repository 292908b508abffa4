"""vla/bridge/state_check.py: each rejection reason, and that a bad stamp never blocks later states."""

import logging

import numpy as np
import pytest

from vla.bridge import dds
from vla.bridge.state_check import StateCheck

NAMES = ["a", "b", "c"]
NOW = 1_700_000_000.0


def state(stamp: float, names=NAMES, q=(0.1, 0.2, 0.3)) -> dds.JointState:
    return dds.joint_state(stamp, names, q)


def test_accepts_in_configured_order_and_rejects_each_fault_once() -> None:
    check = StateCheck(NAMES, max_age_s=0.1)
    np.testing.assert_allclose(check.accept(state(NOW, ["c", "a", "b", "x"], (3, 1, 2, 9)), NOW), [1, 2, 3])
    faults = {  # reason: (message, the clock when it is read)
        "obs_bad_names": (state(NOW + 0.01, ["a", "b"], (0, 0)), NOW + 0.05),
        "obs_future": (state(NOW + 3600), NOW + 0.05),
        "obs_replayed": (state(NOW), NOW + 0.05),
        "obs_stale": (state(NOW + 0.01), NOW + 0.5),  # newer than the last accepted, but 0.49 s old
        "obs_nonfinite": (state(NOW + 0.03, q=(0.0, np.nan, 0.0)), NOW + 0.05),
    }
    for reason, (msg, now) in faults.items():
        assert check.accept(msg, now) is None, reason
    assert check.counters == dict.fromkeys(faults, 1)


def test_a_future_stamp_does_not_lock_out_later_true_states() -> None:
    check = StateCheck(NAMES, max_age_s=0.1)
    assert check.accept(state(NOW + 3600), NOW) is None
    for k in range(1, 4):
        assert check.accept(state(NOW + 0.03 * k), NOW + 0.03 * k) is not None


def test_bad_names_are_named_once_per_name_list(caplog: pytest.LogCaptureFixture) -> None:
    check = StateCheck(NAMES, max_age_s=0.1)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            check.accept(state(NOW, ["a", "x", "c"]), NOW)
    assert check.counters["obs_bad_names"] == 5
    (record,) = caplog.records
    assert "missing joints ['b'], unknown joints ['x']" in record.getMessage()
