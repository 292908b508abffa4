"""Chunk queue on the control clock: stale actions dropped, smooth blending, prefetch without off-by-one."""

import numpy as np
import pytest

from vla.bridge.chunks import ChunkQueue, should_request


def ramp(start: float, n: int, step: float = 0.01) -> np.ndarray:
    return (start + step * np.arange(n))[:, None]  # (T, 1)


def test_stale_actions_of_a_late_chunk_are_dropped() -> None:
    q = ChunkQueue(blend_steps=0)
    q.push(ramp(0.0, 10), t_obs=5, t_now=8)  # predicted at tick 5, arrives before tick 8
    assert q.pop(8)[0] == pytest.approx(0.03)  # chunk[3] is the action for tick 8
    assert q.stats["stale_actions_dropped"] == 3
    q.push(ramp(0.0, 2), t_obs=0, t_now=9)  # entirely stale: dropped, old plan kept
    assert q.stats["late_chunks_dropped"] == 1
    assert q.pop(9)[0] == pytest.approx(0.04)


def test_pop_returns_none_when_empty_and_never_replays_old_actions() -> None:
    q = ChunkQueue()
    q.push(ramp(0.0, 3), t_obs=0, t_now=0)
    assert [q.pop(t)[0] for t in range(3)] == pytest.approx([0.0, 0.01, 0.02])
    assert q.pop(3) is None
    q.push(ramp(1.0, 5), t_obs=0, t_now=10)  # stale by 10 ticks: nothing of it is used
    assert q.pop(10) is None


@pytest.mark.parametrize("t_obs, t_now", [(0, 2), (1, 2), (2, 2)])  # late, on time, early (overlapping)
def test_blend_is_continuous_across_the_boundary(t_obs: int, t_now: int) -> None:
    q = ChunkQueue(blend_steps=4)
    q.push(ramp(0.0, 10, 0.01), t_obs=0, t_now=0)
    out = [q.pop(t)[0] for t in range(t_now)]
    q.push(ramp(0.5, 10, 0.01), t_obs=t_obs, t_now=t_now)  # a new plan offset by +0.5
    out += [q.pop(t)[0] for t in range(t_now, t_now + 8)]
    steps = np.abs(np.diff(out))
    # the 0.5 offset is spread over blend_steps + 1 ticks: no step bigger than 0.5 / 5 + the ramp slope
    assert steps.max() <= 0.5 / 5 + 0.01 + 1e-9
    assert out[-1] == pytest.approx(0.5 + 0.01 * (t_now + 7 - t_obs))  # converged onto the new plan


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_prefetch_threshold_equal_to_latency_never_starves_and_one_less_does(latency: int) -> None:
    def starved_ticks(threshold: int) -> int:
        # fresh actions on arrival: T - (L + 1); they must outlast the next L + 1 ticks: T >= 2 (L + 1)
        q, chunk_len, pending, starved = ChunkQueue(blend_steps=0), 2 * (latency + 1), None, 0
        q.push(ramp(0.0, chunk_len), 0, 0)
        for tick in range(200):
            if pending is not None and pending[1] == tick:  # the inference result lands before this tick
                q.push(ramp(0.0, chunk_len), pending[0], tick)
                pending = None
            starved += q.pop(tick) is None
            if should_request(q.remaining(tick + 1), threshold, pending is not None):
                pending = (tick, tick + 1 + latency)  # obs of this tick; ready `latency` ticks later
        return starved

    assert starved_ticks(threshold=latency) == 0
    assert starved_ticks(threshold=latency - 1) > 0


def test_bad_chunks_are_refused_with_clear_errors() -> None:
    q = ChunkQueue()
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        q.push(np.zeros(3), 0, 0)
    with pytest.raises(ValueError, match="future"):
        q.push(np.zeros((3, 1)), 5, 0)
