"""VLAConfig: the VLA policy's options, the fields of conf/policy/vla.yaml.

The model's keys (backbone, tokenizer, decoder, prompt layout) are VLAModelConfig's, in the model
library that reads them; this adds what the policy around the model decides: the chunk it predicts and
executes, ensembling, state normalisation, and the dataset's cameras and dimensions. One flat group, so
`policy.chunk_size=...` and `policy.decoder=...` are set alike, and a checkpoint's config.yaml holds both.
"""

from dataclasses import dataclass, field

from vla.model.config import VLAModelConfig

STATE_NORMS = ("quantile", "mean_std")


@dataclass
class VLAConfig(VLAModelConfig):
    chunk_size: int = 10  # actions predicted per forward
    n_action_steps: int = 10  # actions executed from each chunk before predicting again
    temporal_ensemble_coeff: float | None = None  # ACT's m: weights exp(-m * i); needs n_action_steps == 1
    state_norm: str = "quantile"  # state normalisation mode (vla/data/normalize.py); actions: always quantile
    # filled from the dataset by VLAPolicy.from_config
    cameras: list[str] = field(default_factory=list)
    state_dim: int = 0
    action_dim: int = 0
    fps: int | None = None  # the dataset's control rate (Hz); None: a checkpoint from before it was saved

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chunk_size < 1:
            raise ValueError(f"policy.chunk_size={self.chunk_size}: must be >= 1 (e.g. 10 = 1 s at 10 Hz)")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(
                f"policy.n_action_steps={self.n_action_steps} must be in [1, chunk_size={self.chunk_size}]"
            )
        if self.temporal_ensemble_coeff is not None and self.n_action_steps != 1:
            raise ValueError(
                "policy.temporal_ensemble_coeff is set: temporal ensembling predicts every step, "
                f"so set policy.n_action_steps=1 (got {self.n_action_steps})"
            )
        if self.state_norm not in STATE_NORMS:
            raise ValueError(f"policy.state_norm={self.state_norm!r}: use 'quantile' or 'mean_std'")
        if self.state_dim < 0 or self.action_dim < 0:
            raise ValueError("policy.state_dim and policy.action_dim must be >= 0")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"policy.fps={self.fps}: the dataset's control rate must be > 0 Hz")
