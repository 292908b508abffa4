"""The deploy runner's configuration (`vla deploy` keys, conf/deploy.yaml); None = derived (timing.py)."""

from dataclasses import dataclass, field

from vla.bridge.timing import derived_timeouts


@dataclass
class RunnerConfig:
    """None = derived from the rate (timeouts) or from the policy and its latency (prefetch): timing.py."""

    rate_hz: float = 30.0
    obs_max_age_s: float | None = None
    obs_timeout_s: float | None = None
    image_max_age_s: float = 0.5  # cameras run slower than the joint states
    policy_timeout_s: float | None = None  # no policy action for this long while armed: latch a hold
    loop_timeout_s: float | None = None  # the control loop silent (stalled) this long: latch a hold
    first_chunk_timeout_s: float = 10.0  # the first inference after arming may be slow (model warm-up)
    prefetch_threshold: int | None = None
    n_action_steps: int | None = None  # actions a chunk is meant to run for (prefetch); None: the policy's
    blend_steps: int = 3
    arm_on_start: bool = True
    status_period_s: float = 0.5
    cameras: tuple[str, ...] = ()
    task: str = ""
    use_privileged_state: bool = False  # sim-only: pass /vla/sim/privileged_state to the policy
    rt_priority: int = 10  # SCHED_FIFO for the control loop and watchdog threads (0: off; best effort)
    policy_timeout_derived: bool = field(init=False, default=False)  # then it follows the latency too

    def __post_init__(self) -> None:
        if not 1 <= self.rate_hz <= 1000:
            raise ValueError(f"deploy.rate_hz={self.rate_hz} must be within 1..1000 Hz (30-50 Hz is typical)")
        if self.prefetch_threshold is not None and self.prefetch_threshold < 0:
            raise ValueError(f"prefetch_threshold={self.prefetch_threshold} must be >= 0 (or null: derived)")
        if self.n_action_steps is not None and self.n_action_steps < 1:
            raise ValueError(f"n_action_steps={self.n_action_steps} must be >= 1 (or null: the policy's own)")
        self.policy_timeout_derived = self.policy_timeout_s is None
        for key, value in derived_timeouts(self.rate_hz).items():
            if getattr(self, key) is None:
                setattr(self, key, value)
            elif getattr(self, key) <= 0:
                raise ValueError(f"{key}={getattr(self, key)} must be > 0 s (or null: derived from rate_hz)")
