"""The safety layer in isolation (pure Python): limits, rate limits, rejections, trips, arming, ramp."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla.bridge.arming import Request
from vla.bridge.safety import SafetyConfig, SafetyLayer, check_stream
from vla.bridge.watchdog import Watchdog

NAMES = ("a", "b", "c")
DT = 0.02


def make(limit_mode: str = "clip", ramp_s: float = 0.0) -> SafetyLayer:
    cfg = SafetyConfig(
        NAMES,
        lower=[-1, -2, 0],
        upper=[1, 2, 3],
        max_velocity=[1.0, 2.0, 0.5],
        max_acceleration=[5.0, 10.0, 2.0],
        limit_mode=limit_mode,
        ramp_s=ramp_s,
    )
    return SafetyLayer(cfg, DT)


def run(layer: SafetyLayer, targets, start=(0.0, 0.0, 1.0)) -> np.ndarray:
    assert layer.arm(np.array(start), fresh=True) is None
    return np.array([layer.step(t) for t in targets])


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="lower"):
        SafetyConfig(NAMES, lower=[0, 0, 0], upper=[0, 1, 1])
    with pytest.raises(ValueError, match="limit_mode"):
        SafetyConfig(NAMES, lower=-1, upper=1, limit_mode="ignore")
    with pytest.raises(ValueError, match="max_velocity"):
        SafetyConfig(NAMES, lower=-1, upper=1, max_velocity=0)


def test_nothing_published_before_first_arm_and_arm_needs_fresh_state() -> None:
    layer = make()
    assert layer.step(np.zeros(3)) is None
    assert layer.arm(np.zeros(3), fresh=False) == "no fresh joint state"
    assert layer.arm(np.array([0.0, 0.0, 9.0]), fresh=True) == "measured pose outside joint limits"
    assert layer.counters["arm_refused"] == 2


def test_target_beyond_limit_is_clipped_and_counted_then_reached_without_overshoot() -> None:
    layer = make()
    out = run(layer, [np.array([5.0, -5.0, 10.0])] * 400)
    np.testing.assert_allclose(out[-1], [1.0, -2.0, 3.0], atol=1e-3)
    assert np.all(out <= layer.cfg.hi + 1e-12) and np.all(out >= layer.cfg.lo - 1e-12)
    assert layer.counters["clipped_position"] == 400
    assert layer.counters["limit_backstop"] == 0  # the braking law stopped at the limit by itself
    assert check_stream(out, layer.cfg, DT) == []


def test_reject_mode_holds_instead_of_clipping() -> None:
    layer = make("reject")
    out = run(layer, [np.array([5.0, 0.0, 1.0])] * 10)
    np.testing.assert_allclose(out, np.tile([0.0, 0.0, 1.0], (10, 1)))
    assert layer.counters["rejected_limit"] == 10


def test_big_step_is_rate_limited() -> None:
    layer = make()
    out = run(layer, [np.array([0.9, 1.9, 2.9])] * 5)
    assert layer.counters["rate_limited"] == 5
    v = np.diff(np.vstack([[0.0, 0.0, 1.0], out]), axis=0) / DT
    assert np.all(np.abs(v) <= layer.cfg.v_max + 1e-9)
    assert np.all(np.abs(np.diff(np.vstack([[0, 0, 0], v]), axis=0)) / DT <= layer.cfg.a_max + 1e-9)


@pytest.mark.parametrize(
    "bad", [np.array([np.nan, 0, 1]), np.array([0, np.inf, 1]), np.array([]), np.zeros(4), "x", None]
)
def test_malformed_command_rejected_whole_and_robot_holds(bad) -> None:
    layer = make()
    out = run(layer, [bad] * 5)
    np.testing.assert_allclose(out, np.tile([0.0, 0.0, 1.0], (5, 1)))
    key = "starved" if bad is None else "rejected_invalid"
    assert layer.counters[key] == 5


def test_unknown_joint_names_rejected() -> None:
    layer = make()
    assert layer.arm(np.array([0.0, 0.0, 1.0]), fresh=True) is None
    np.testing.assert_allclose(layer.step(np.array([0.5, 0.5, 1.5]), names=["a", "b", "zz"]), [0, 0, 1])
    assert layer.counters["rejected_invalid"] == 1


def test_trip_brakes_without_turning_back_and_holds_until_rearm() -> None:
    layer = make()
    moving = run(layer, [np.array([1.0, 2.0, 3.0])] * 15)
    layer.estop()
    after = [layer.step(np.array([1.0, 2.0, 3.0])) for _ in range(60)]
    assert after[-1] is None  # stopped: nothing more is published until re-armed
    after = np.array([q for q in after if q is not None])
    stream = np.vstack([moving, after])
    assert check_stream(stream, layer.cfg, DT) == []
    v = np.diff(stream, axis=0)
    assert np.all(v[len(moving) :] >= -1e-12)  # decelerates monotonically: never moves backwards
    np.testing.assert_allclose(v[-1], 0.0, atol=1e-12)  # stopped before going silent
    assert layer.estopped and not layer.armed and layer.counters["fault_estop"] == 1
    assert layer.arm(after[-1], fresh=True) is None  # explicit re-arm restarts from the measured pose
    assert not layer.estopped


def test_arm_refused_while_still_braking() -> None:
    layer = make()
    run(layer, [np.array([1.0, 2.0, 3.0])] * 15)
    layer.trip("observation")
    assert layer.arm(layer.last_command, fresh=True) == "still braking"


def test_estop_clears_a_pending_request_and_a_refused_request_is_consumed() -> None:
    layer = make()
    pose = np.array([0.0, 0.0, 1.0])
    assert layer.request_arm() and layer.arm_due(fresh=True)
    layer.estop()  # `false` then `true` back to back: the e-stop wins
    assert not layer.arm_due(fresh=True) and layer.estopped
    assert layer.request_arm()  # a re-arm after the e-stop ...
    assert layer.attempt_arm(np.array([0.0, 0.0, 9.0]), fresh=True) == "measured pose outside joint limits"
    assert not layer.arm_due(fresh=True)  # ... refused, consumed: never retried on its own
    assert layer.estopped and layer.counters["arm_refused"] == 1
    assert layer.arm(pose, fresh=True) is None and layer.armed  # a new request succeeds
    assert layer.arm(pose, fresh=True) == "already armed" and layer.counters["armed"] == 1


def test_fault_never_downgrades_an_estop_and_start_request_waits_for_fresh_state() -> None:
    layer = make()
    assert layer.request_arm(Request.START) and not layer.arm_due(fresh=False) and layer.arm_due(fresh=True)
    assert layer.attempt_arm(np.array([0.0, 0.0, 1.0]), fresh=True) is None
    layer.estop()
    assert not layer.trip("observation")  # already stopped: the e-stop stays
    assert layer.estopped and layer.status()["state"] == "estopped" and layer.fault == "estop"
    assert layer.counters["fault_observation"] == 0


def test_start_ramp_scales_speed_after_arming() -> None:
    layer = make(ramp_s=1.0)
    out = run(layer, [np.array([1.0, 2.0, 3.0])] * 50)
    v = np.abs(np.diff(np.vstack([[0.0, 0.0, 1.0], out]), axis=0)) / DT
    k = np.arange(1, 51)[:, None] * DT  # time since arming
    assert np.all(v <= layer.cfg.v_max * np.minimum(1.0, k / 1.0) + 1e-9)


command = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=5).map(np.array),
    st.lists(st.floats(-20, 20), min_size=3, max_size=3).map(np.array),
    st.none(),
)
event = st.sampled_from(["step"] * 8 + ["trip", "arm"])


@settings(max_examples=300, deadline=None)
@given(
    cmds=st.lists(st.tuples(event, command), min_size=1, max_size=120),
    mode=st.sampled_from(["clip", "reject"]),
)
def test_property_no_published_command_outside_limits_whatever_the_policy_emits(cmds, mode) -> None:
    layer = make(mode, ramp_s=0.1)
    start = np.array([0.3, -1.0, 2.5])
    layer.arm(start, fresh=True)
    out = [start]
    for kind, target in cmds:
        if kind == "trip":
            layer.trip("watchdog")
        elif kind == "arm":
            if layer.arm(layer.last_command, fresh=True) is None:
                out = [layer.last_command]  # a new motion starts from rest at the measured pose
                stream_checked = check_stream(np.array(out), layer.cfg, DT)
                assert stream_checked == []
        q = layer.step(target)
        if q is None:  # disarmed and stopped: nothing published
            assert not layer.armed
            continue
        out.append(q)
        assert np.all(np.isfinite(q)) and np.all(q >= layer.cfg.lo) and np.all(q <= layer.cfg.hi)
    assert check_stream(np.array(out), layer.cfg, DT) == [], layer.counters


def test_watchdog_fires_from_its_own_thread_while_the_fed_thread_sleeps() -> None:
    trips: list[str] = []
    dog = Watchdog({"loop": 0.05, "observation": 0.05}, trips.append).start()
    try:
        dog.feed("loop")
        t0 = time.monotonic()
        while not trips and time.monotonic() - t0 < 1.0:
            time.sleep(0.001)  # this thread "stalls": it stops feeding
        assert trips == ["loop"]  # observation was never fed, so it is not watched
        assert 0.05 <= dog.trips[0][0] - t0 < 0.05 + 0.05
    finally:
        dog.stop()
