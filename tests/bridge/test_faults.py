"""The fault table of docs/deploy.md (rows 1-11, 12a, 12b), injected into real processes on loopback DDS.

Each test starts `vla sim-robot` (MuJoCo, no cameras) and a `vla deploy` runner with a test policy
(tests/bridge/fault_policies.py) on a private ROS domain, injects one fault, and asserts the outcome
in the measured sim joints (/joint_states: MuJoCo's positions and velocities), together with the
published command stream (/forward_position_controller/commands) and the /vla/status counters.
"""

import signal
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.bridge.harness import ROOT, series, settled_after, stall_time
from vla.bridge import dds
from vla.bridge.safety import SafetyConfig, check_stream

B = OmegaConf.load(ROOT / "conf/bridge/so101.yaml")
SAFETY = SafetyConfig(joint_names=tuple(B.joint_names), **OmegaConf.to_container(B.safety))
DT = 1 / 30  # the deploy default rate
DETECT = max(3 * DT, 0.1)  # the fault table: hold within max(3 control periods, 100 ms)
BRAKE = float(np.max(SAFETY.v_max / SAFETY.a_max))  # longest stop from v_max at a_max
SLACK = 0.15  # DDS delivery + scheduling on a shared 2-core machine


def still(obs, t0: float, t1: float, eps: float = 2e-3) -> float:
    """Largest joint excursion of the measured joints within [t0, t1] (asserts samples exist)."""
    _, q = series(obs.joints, t0, t1)
    assert len(q) > 10, "no joint states measured in the window"
    return float(np.abs(q - q[0]).max())


def test_1_policy_stops_producing_robot_brakes_and_holds(rig) -> None:
    rig.sim()
    dep = rig.deploy("stall", stall_after_s=1.5, mode="sleep", horizon=6)
    rig.armed_and_moving()
    obs = rig.obs
    obs.wait_for(lambda: obs.last_status().get("fault") == "policy", 8, "the policy fault")
    t_stall = stall_time(dep)
    time.sleep(1.0)
    t, cmd = series(obs.commands)
    assert check_stream(cmd, SAFETY, DT) == []  # bounded deceleration: the last velocity is not repeated
    # the queue holds at most horizon - 1 valid actions when the request stalls; then detection + braking
    t_hold = settled_after(t, cmd)
    assert t_hold - t_stall <= 6 * DT + DETECT + BRAKE + SLACK, t_hold - t_stall
    assert still(obs, t_hold + 0.3, time.monotonic()) < 2e-3
    assert obs.counter("fault_policy") == 1 and not obs.last_status()["armed"]


@pytest.mark.parametrize("how", ["gil", "sigstop"])
def test_2_stalled_runner_robot_side_watchdog_holds_and_runner_latches(rig, how: str) -> None:
    """A GIL-holding call or SIGSTOP freezes every thread of the runner, its own watchdog included; the
    steady-clock watchdog that still fires is the robot's command timeout (sim-robot, as ros2_control's
    cmd_timeout) in another process. When the runner wakes up it latches a fault and never resumes."""
    rig.sim()
    dep = rig.deploy("stall", stall_after_s=1.0 if how == "gil" else 1e9, mode="gil", gil_s=2.0)
    t_moving = rig.armed_and_moving()
    obs = rig.obs
    if how == "gil":
        obs.wait_for(lambda: "STALL" in dep.log.read_text(), 10, "the GIL stall")
        t_stall = stall_time(dep)
    else:
        time.sleep(max(0.0, t_moving + 1.0 - time.monotonic()))
        t_stall = time.monotonic()
        dep.signal(signal.SIGSTOP)
        time.sleep(2.0)
        dep.signal(signal.SIGCONT)
    # whichever of its watchdog channels sees the gap first (loop, observation, policy) latches the fault
    obs.wait_for(lambda: obs.last_status().get("fault") is not None, 6, "the runner to latch the stall")
    assert obs.sim[-1][1]["counters"]["timeouts"] >= 1  # the robot-side watchdog fired
    # held from the robot's timeout on, through the stall, and after it (no resumed plan)
    assert still(obs, t_stall + DETECT + BRAKE + SLACK + 0.1, time.monotonic()) < 0.01
    assert not obs.last_status()["armed"]


def test_3_delayed_or_replayed_observations_are_rejected(rig) -> None:
    rig.sim()
    rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    # replay: re-publish 1 s of recorded joint states (old stamps) next to the live stream
    time.sleep(1.0)
    recorded = [q for _, q in list(obs.joints)[-60:]]
    replayer = obs.matched_writer("/joint_states", dds.JointState)
    old = time.time() - 1.0
    for i, q in enumerate(recorded):
        replayer.write(dds.joint_state(old + i * 0.01, B.joint_names, q))
        time.sleep(0.01)  # ~3 per control tick: within the reader's KEEP_LAST 10 history
    time.sleep(0.6)
    assert obs.counter("obs_replayed") >= len(recorded) * 0.9
    assert obs.last_status()["armed"]  # the live stream kept it running
    # delayed: every state now arrives 0.5 s old -> nothing stale is acted on: hold, fault
    rejected = obs.counter("obs_stale") + obs.counter("obs_replayed")
    t_inject = time.monotonic()
    obs.inject(stamp_offset_s=-0.5)
    obs.wait_for(lambda: obs.last_status().get("fault") == "observation", 3, "the stale-state fault")
    chunks = obs.counter("chunks")
    time.sleep(1.0)
    # 0.5 s old stamps: first older than the last accepted one (replay check), then too old (age check)
    assert obs.counter("obs_stale") > 20
    assert obs.counter("obs_stale") + obs.counter("obs_replayed") - rejected > 80  # ~100 Hz for 1 s
    assert obs.counter("chunks") == chunks  # the policy was not stepped
    t, cmd = series(obs.commands)
    t_held = settled_after(t, cmd)
    assert t_held - t_inject <= DETECT + BRAKE + SLACK
    assert check_stream(cmd, SAFETY, DT) == []
    assert still(obs, t_held + 0.3, time.monotonic()) < 2e-3  # measured: the arm holds


def test_4_total_loss_no_backlog_and_rearm_required(rig) -> None:
    rig.sim()
    rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    time.sleep(0.5)
    obs.inject(drop_all=True)  # the link is down both ways for 2 s
    time.sleep(2.0)
    obs.inject(drop_all=False)
    t_back = obs.wait_for(lambda: obs.last_status().get("fault") == "observation", 3, "the loss fault")
    time.sleep(1.5)
    assert obs.sim[-1][1]["counters"]["timeouts"] >= 1  # the robot held during the outage
    assert still(obs, t_back, time.monotonic()) < 2e-3  # restored: nothing replayed, nothing resumed
    obs.estop(False)  # explicit re-arm
    obs.wait_for(obs.moving, 5, "motion after re-arm")
    assert obs.counter("armed") == 2


@pytest.mark.parametrize("mode", ["clip", "reject"])
def test_5_target_beyond_joint_limit(rig, mode: str) -> None:
    rig.sim()
    rig.deploy("offset", f"bridge.safety.limit_mode={mode}", offset=[3.0, 0, 0, 0, 0, 0])
    obs = rig.obs
    obs.wait_for(lambda: obs.last_status().get("armed"), 40, "arming")
    time.sleep(3.0)  # 2 rad at 2 rad/s plus the start ramp
    _, q = series(obs.joints)
    upper = SAFETY.hi[0]
    assert q[:, 0].max() <= upper + 2e-3  # measured in MuJoCo: inside the limit
    if mode == "clip":
        assert q[-1, 0] == pytest.approx(upper, abs=0.02) and obs.counter("clipped_position") > 0
    else:
        assert np.abs(q[-1] - q[0]).max() < 2e-3 and obs.counter("rejected_limit") > 0


def test_6_steps_and_jerk_spikes_are_rate_limited(rig) -> None:
    rig.sim()
    rig.deploy("jerk", step=0.8)
    rig.armed_and_moving()
    time.sleep(2.0)
    _, cmd = series(rig.obs.commands)
    assert len(cmd) > 50
    assert check_stream(cmd, SAFETY, DT) == []  # offline velocity / acceleration check
    assert rig.obs.counter("rate_limited") > 20
    _, qd = series(rig.obs.velocities)  # measured in MuJoCo (qvel): the arm is not shaken
    assert len(qd) > 100
    assert np.all(np.abs(qd).max(axis=0) <= SAFETY.v_max)  # unfiltered: +-0.8 rad per 33 ms tick


def test_7_malformed_commands_rejected_whole_robot_holds(rig) -> None:
    rig.sim()
    dep = rig.deploy("garbage")
    obs = rig.obs
    t_armed = obs.wait_for(lambda: obs.last_status().get("armed"), 40, "arming")
    bad_names = obs.matched_writer("/joint_states", dds.JointState)  # a second publisher, unknown names
    for i in range(20):  # one at a time, each seen rejected: none lost to a full reader history
        bad_names.write(dds.joint_state(time.time(), ["j1", "j2", "j3", "j4", "j5", "j6"], np.zeros(6)))
        obs.wait_for(lambda n=i + 1: obs.counter("obs_bad_names") >= n, 5, f"bad-names state {i} rejected")
    time.sleep(2.0)
    assert still(obs, t_armed, time.monotonic()) < 2e-3
    assert obs.counter("rejected_invalid") > 10  # NaN / Inf rows
    assert obs.counter("chunks_bad_shape") > 2  # empty and wrong-length chunks
    assert obs.counter("obs_bad_names") == 20
    log = dep.log.read_text()  # the operator is told which joints, once per distinct name list
    assert log.count("joint state rejected") == 1
    assert "missing joints ['shoulder_pan', 'shoulder_lift'" in log and "unknown joints ['j1', 'j2'" in log


@pytest.mark.parametrize("fault", ["mute_states", "freeze_states"])
def test_8_joint_states_stop_or_freeze(rig, fault: str) -> None:
    rig.sim()
    rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    t_inject = time.monotonic()
    obs.inject(**{fault: True})
    obs.wait_for(lambda: obs.last_status().get("fault") == "observation", 3, "the state-age fault")
    chunks = obs.counter("chunks")
    obs.estop(False)  # try to re-arm on stale state
    obs.wait_for(lambda: obs.counter("arm_refused") >= 1, 3, "the refusal")
    assert obs.counter("chunks") == chunks and not obs.last_status()["armed"]  # policy not stepped
    t, cmd = series(obs.commands)
    t_held = settled_after(t, cmd)
    assert t_held - t_inject <= DETECT + BRAKE + SLACK
    obs.inject(**{fault: False})
    time.sleep(0.5)
    assert not obs.last_status()["armed"]  # fresh data alone never re-arms
    # measured (for mute_states, once states flow again): the arm stands still where the last command left it
    assert still(obs, t_held + 0.3, time.monotonic()) < 2e-3
    assert np.abs(obs.joints[-1][1] - cmd[-1]).max() < 2e-3
    obs.estop(False)
    obs.wait_for(lambda: obs.last_status().get("armed"), 3, "re-arming on fresh state")


def test_9_far_first_command_starts_from_measured_pose_and_ramps(rig) -> None:
    rig.sim()
    rig.deploy("offset", offset=[1.0, 0.5, 0, 0, 0, 0])
    obs = rig.obs
    obs.wait_for(lambda: len(obs.commands) > 60, 40, "commands")
    t_first = obs.commands[0][0]
    _, before = series(obs.joints, t_first - 0.3, t_first)
    _, cmd = series(obs.commands)
    measured = before[-1]
    assert np.abs(cmd[0] - measured).max() <= SAFETY.v_max.max() * DT  # no jump on the first command
    assert check_stream(np.vstack([measured, measured, cmd]), SAFETY, DT) == []  # from rest, bounded
    ramp_end = int(B.safety.ramp_s / DT)
    v = np.abs(np.diff(cmd[:ramp_end], axis=0)) / DT
    assert np.all(v <= SAFETY.v_max * (np.arange(2, ramp_end + 1)[:, None] * DT / B.safety.ramp_s) + 1e-6)
    # measured in MuJoCo: the arm leaves its pose along the ramp (v <= v_max t / ramp_s, so it has moved at
    # most v_max t^2 / (2 ramp_s) after t s; 3 ticks of slack for delivery), never lurching at the target
    t, q = series(obs.joints, t_first, t_first + B.safety.ramp_s)
    reach = SAFETY.v_max * (t[:, None] - t_first + 3 * DT) ** 2 / (2 * B.safety.ramp_s) + 2e-3  # (N, 6)
    assert len(q) > 20 and np.all(np.abs(q - measured) <= reach)


def test_10_estop_mid_chunk_drops_it_and_never_resumes(rig) -> None:
    rig.sim()
    rig.deploy("line", "prefetch_threshold=1", horizon=90, joints=[0], speed=0.4)
    rig.armed_and_moving()
    obs = rig.obs
    time.sleep(0.5)  # well inside the 3 s chunk
    t_stop = time.monotonic()
    obs.estop(True)
    obs.wait_for(lambda: obs.last_status().get("estopped"), 2, "the e-stop")
    time.sleep(1.0)
    t, cmd = series(obs.commands)
    assert settled_after(t, cmd) - t_stop <= BRAKE + SLACK
    hold = obs.joints[-1][1]
    assert still(obs, t_stop + BRAKE + SLACK + 0.1, time.monotonic()) < 2e-3
    obs.estop(False)  # re-arm: the policy is reset and plans anew (this test policy then goes -pan)
    t_rearm = obs.wait_for(lambda: obs.counter("armed") == 2, 3, "re-arm")
    time.sleep(1.5)
    _, q = series(obs.joints, t_rearm, time.monotonic())
    assert q[:, 0].max() <= hold[0] + 2e-3  # the old (+pan) trajectory never came back
    assert q[-1, 0] < hold[0] - 0.1
    assert check_stream(series(obs.commands, t_rearm)[1], SAFETY, DT) == []


def test_11_chunks_early_late_overlapping_stay_continuous(rig) -> None:
    rig.sim()
    rig.deploy("chunk_boundary", "prefetch_threshold=3", horizon=10, jump=0.15, max_latency_ticks=4)
    rig.armed_and_moving()
    time.sleep(4.0)
    obs = rig.obs
    _, cmd = series(obs.commands)
    assert check_stream(cmd, SAFETY, DT) == []  # position and velocity continuous at every boundary
    assert (
        obs.counter("chunks") > 10 and obs.counter("blended") > 5 and obs.counter("stale_actions_dropped") > 5
    )
    # measured by MuJoCo (qvel; differencing positions by arrival time would measure the observer's
    # scheduling, not the arm): no spikes at the boundaries
    _, qd = series(obs.velocities)
    assert obs.last_status()["armed"], obs.last_status()
    assert len(qd) > 200 and np.percentile(np.abs(qd[:, :2]), 99) < 2 * SAFETY.v_max[:2].max()


def _hold_still(obs, timeout: float = 3.0) -> float:
    """Waits until the runner is e-stopped and its commands have stopped; returns that time."""
    obs.wait_for(lambda: obs.last_status().get("estopped"), timeout, "the e-stop")
    time.sleep(BRAKE + SLACK)
    return time.monotonic()


def test_12a_estop_after_rearm_back_to_back_stays_estopped(rig) -> None:
    """`/vla/estop` false then true in one burst: the e-stop, the operator's last word, wins."""
    rig.sim()
    rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    obs.estop(True)
    _hold_still(obs)
    for _ in range(5):  # each burst lands within one control tick
        obs.estop(False)
        obs.estop(True)
        time.sleep(0.3)
    t_burst = time.monotonic() - 1.5
    time.sleep(0.5)
    status = obs.last_status()
    assert status["state"] == "estopped" and not status["armed"], status
    assert obs.counter("armed") == 1  # never re-armed, not even for one tick
    assert len(obs.commands_between(t_burst, time.monotonic())) == 0  # nothing published at all
    assert still(obs, t_burst, time.monotonic()) < 2e-3
    obs.estop(False)  # a re-arm on its own still works
    obs.wait_for(lambda: obs.counter("armed") == 2, 3, "the re-arm")


def test_12a_refused_rearm_is_consumed_and_estop_wins(rig) -> None:
    """A re-arm refused (measured pose out of limits) is not retried; after an e-stop, the pose coming
    back in range arms nothing. The test plays the robot's /joint_states while the sim's are muted."""
    rig.sim()
    dep = rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    obs.estop(True)
    _hold_still(obs)
    writer = obs.matched_writer("/joint_states", dds.JointState)
    obs.inject(mute_states=True)
    pose = obs.joints[-1][1].copy()
    bad = pose.copy()
    bad[0] = SAFETY.hi[0] + 0.5  # a pose outside the limits (e.g. a miscalibrated encoder)

    def publish(q: np.ndarray, seconds: float) -> None:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            writer.write(dds.joint_state(time.time(), B.joint_names, q))
            time.sleep(0.01)

    publish(bad, 0.3)
    obs.estop(False)
    publish(bad, 0.5)
    assert obs.counter("arm_refused") == 1  # refused once, not every tick
    publish(pose, 0.6)  # back in range: the consumed request must not arm
    assert obs.counter("armed") == 1 and not obs.last_status()["armed"]
    publish(bad, 0.2)
    obs.estop(False)
    publish(bad, 0.2)
    obs.estop(True)  # a refused request, then an e-stop
    t_estop = time.monotonic()
    publish(pose, 0.8)
    status = obs.last_status()
    assert status["state"] == "estopped" and obs.counter("armed") == 1 and obs.counter("arm_refused") == 2
    assert len(obs.commands_between(t_estop, time.monotonic())) == 0
    assert dep.log.read_text().count("arming refused") == 2  # logged once per request
    obs.estop(False)  # a request after the e-stop, on a valid pose, arms
    publish(pose, 0.5)
    assert obs.counter("armed") == 2


def test_12b_state_stamped_in_the_future_is_rejected_and_does_not_lock_out(rig) -> None:
    """One /joint_states stamped an hour ahead (a bad clock) and one with NaN: both rejected and
    counted; the live stream goes on being accepted, and the bridge stays re-armable."""
    rig.sim()
    dep = rig.deploy("sine")
    rig.armed_and_moving()
    obs = rig.obs
    writer = obs.matched_writer("/joint_states", dds.JointState)
    pose = obs.joints[-1][1]
    writer.write(dds.joint_state(time.time() + 3600.0, B.joint_names, pose))
    nan_pose = pose.copy()
    nan_pose[2] = np.nan
    # 80 ms ahead (within obs_max_age_s): newer than the sim's live states, so it reaches the NaN check
    writer.write(dds.joint_state(time.time() + 0.08, B.joint_names, nan_pose))
    rejected = lambda: obs.counter("obs_future") == 1 and obs.counter("obs_nonfinite") == 1  # noqa: E731
    obs.wait_for(rejected, 3, f"both rejections (status: {obs.last_status()})")
    replayed = obs.counter("obs_replayed")
    time.sleep(1.0)
    status = obs.last_status()
    assert status["armed"] and status["fresh_state"] and status["fault"] is None, status
    assert obs.counter("obs_replayed") - replayed <= 2  # the live stream is not taken for replays
    assert obs.moving()
    obs.estop(True)
    _hold_still(obs)
    obs.estop(False)
    obs.wait_for(lambda: obs.counter("armed") == 2, 3, "the re-arm")
    assert "obs_bad_names" not in status["counters"]  # NaN has its own counter
    assert "joint state rejected" not in dep.log.read_text()
