"""`vla record expert_limits=so101` (vla/apps/expert_limits.py): real PickCube episodes recorded with the
scripted expert behind the bridge's own SafetyLayer."""

import pytest

from vla.apps.expert_limits import bridge_limits
from vla.apps.record import record_dataset
from vla.bridge.safety import SafetyConfig, check_stream
from vla.constants import ACTION
from vla.data import meta
from vla.data.stats import read_vectors


def test_the_expert_within_a_bridges_limits_records_demos_the_bridge_would_not_slow(tmp_path) -> None:
    """`vla record expert_limits=so101`: real PickCube episodes recorded through the bridge's own
    SafetyLayer. The recorded actions obey so101's velocity and acceleration limits (the free expert's
    do not), the expert still succeeds, and each episode says how often the limits slowed it."""
    limits = bridge_limits("so101")
    cfg = SafetyConfig.from_bridge(limits)
    kwargs = {"layout": "slots", "cameras": ["front"], "image_size": 32}
    streams = {}
    for name, policy_kwargs in (("free", {}), ("limited", {"limits": limits})):
        root = tmp_path / name
        result = record_dataset("vla/PickCube-v0", root, 2, "train", 200000, env_kwargs=kwargs,
                                policy_kwargs=policy_kwargs, progress=False)  # fmt: skip
        assert result.successes == result.attempts == 2
        actions = read_vectors(root, [ACTION])[ACTION]  # (N, 6) in frame order: episode 0, then 1
        episodes = meta.read_sidecar(root)  # meta/vla_episodes.jsonl
        first = int(episodes[0]["length"])
        streams[name] = [actions[:first], actions[first:]]
        assert all(("rate_limited_steps" in e) == (name == "limited") for e in episodes)
    tol = 1e-4  # actions are stored as float32
    assert all(check_stream(a, cfg, 0.1, tol) == [] for a in streams["limited"])
    assert all(check_stream(a, cfg, 0.1, tol) != [] for a in streams["free"])
    assert all(len(a) > len(f) for a, f in zip(streams["limited"], streams["free"], strict=True))  # slower
    with pytest.raises(SystemExit, match=r"expert_limits=nope: no .*nope.yaml; use one of \[.*'so101'"):
        bridge_limits("nope")
