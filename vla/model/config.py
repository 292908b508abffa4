"""Config dataclasses of the VLA model: what VLAModel reads (conf/tokenizer/*.yaml, conf/backbone/*.yaml
and the model's keys of conf/policy/vla.yaml).

The VLA policy's config (policies/vla/config.py) extends VLAModelConfig with the policy's own keys, so
conf/policy/vla.yaml stays one flat group. Each dataclass validates itself in __post_init__ and says how
to fix a bad value. `from_dict` accepts a plain dict or an OmegaConf node and rejects unknown keys (a
typo is an error, not a silent default).
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from vla.model.backbone_config import BackboneConfig

DECODERS = ("parallel", "ar")
TOKENIZERS = ("bins", "fast")


@dataclass
class TokenizerConfig:
    type: str = "bins"
    num_bins: int = 256  # bins: per dimension, as RT-2/OpenVLA
    scale: float = 10.0  # fast: DCT coefficients are multiplied by this before rounding (FAST's default)
    vocab_size: int = 1024  # fast: BPE vocabulary size (new tokens added to the backbone)
    # bins: Gaussian soft labels over neighbouring bins (HL-Gauss, Farebrother et al. 2024), std in bins;
    # 0 = one-hot. Neighbouring bins are near actions, so a near miss earns part of the credit.
    label_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.type not in TOKENIZERS:
            raise ValueError(f"tokenizer.type={self.type!r}: use one of {TOKENIZERS} (conf/tokenizer/)")
        if self.num_bins < 2:
            raise ValueError(f"tokenizer.num_bins={self.num_bins}: needs >= 2 (256 as RT-2)")
        if self.label_sigma < 0 or (self.label_sigma > 0 and self.type != "bins"):
            raise ValueError(
                f"tokenizer.label_sigma={self.label_sigma}: must be >= 0, and > 0 only with type=bins "
                "(fast tokens are not ordered); e.g. 2.0"
            )


@dataclass
class VLAModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    decoder: str = "parallel"  # "parallel": all action tokens in one forward (OpenVLA-OFT); "ar": KV-cached
    state_tokens: bool = True  # the robot state, binned, as tokens in the prompt
    # the instruction before the images: in a causal LM, image tokens can then attend to the words and
    # compute instruction-conditioned features (which cube is "the red one") from the first layer on
    instruction_first: bool = False
    state_bins: int = 256
    strict_decode: bool = False  # a malformed action sequence: raise (True) or count + log + repair (False)

    def __post_init__(self) -> None:
        if isinstance(self.backbone, Mapping):
            self.backbone = _build(BackboneConfig, self.backbone, "backbone")
        if isinstance(self.tokenizer, Mapping):
            self.tokenizer = _build(TokenizerConfig, self.tokenizer, "tokenizer")
        if self.decoder not in DECODERS:
            raise ValueError(f"policy.decoder={self.decoder!r}: use one of {DECODERS}")
        if self.state_bins < 2:
            raise ValueError(f"policy.state_bins={self.state_bins}: needs >= 2")

    @classmethod
    def from_dict(cls, cfg: Any) -> Self:
        return _build(cls, _to_plain(cfg), "policy")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _to_plain(cfg: Any) -> dict[str, Any]:
    """OmegaConf node or mapping -> plain dict (interpolations resolved)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # omegaconf is optional for library users
        pass
    return {k: (_to_plain(v) if isinstance(v, Mapping) else v) for k, v in dict(cfg).items()}


_IGNORED_KEYS = {"name", "_target_"}  # Hydra bookkeeping in conf/policy/vla.yaml


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in values.items() if not (k in _IGNORED_KEYS and k not in names)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    return cls(**values)
