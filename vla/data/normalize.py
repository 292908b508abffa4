"""Normalisation outside the model (LeRobot's processors do the same).

Statistics per feature: mean, std, min, max, q01, q99 (1st/99th percentiles), each a 1-D array.
Modes: "mean_std" -> (x - mean) / std; "quantile" -> the q01..q99 range maps to [-1, 1]
(values outside it go beyond +-1; tokenizers clip). The model only ever sees normalised tensors,
the policy unnormalises.
"""

from collections.abc import Mapping

import numpy as np
import torch

STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99")
MODES = ("mean_std", "quantile", "identity")
_EPS = 1e-6  # guards constant dimensions (e.g. a gripper that never moves) against division by zero

Array = np.ndarray | torch.Tensor


def compute_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """values: (N, D) samples of one feature -> each statistic (D,) float32."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)  # (N, D)
    if len(values) == 0 or not np.isfinite(values).all():
        raise ValueError("cannot compute statistics: the samples are empty or contain NaN/Inf")
    stats = {
        "mean": values.mean(0),
        "std": values.std(0),
        "min": values.min(0),
        "max": values.max(0),
        "q01": np.quantile(values, 0.01, axis=0),
        "q99": np.quantile(values, 0.99, axis=0),
    }
    return {k: v.astype(np.float32) for k, v in stats.items()}


class Normalizer:
    """Normalises and unnormalises named features with fixed statistics and a mode per feature."""

    def __init__(self, stats: Mapping[str, Mapping[str, Array]], modes: Mapping[str, str]):
        for key, mode in modes.items():
            if mode not in MODES:
                raise ValueError(f"normalisation mode {mode!r} for {key!r} is not one of {MODES}")
            if mode != "identity" and key not in stats:
                raise ValueError(f"no statistics for {key!r}; known: {sorted(stats)}")
        self.modes = dict(modes)
        self.stats = {
            key: {name: np.asarray(stats[key][name], dtype=np.float32) for name in STAT_NAMES}
            for key in modes
            if key in stats
        }

    def _scale_shift(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """x_norm = (x - shift) / scale."""
        s, mode = self.stats[key], self.modes[key]
        if mode == "mean_std":
            return np.maximum(s["std"], _EPS), s["mean"]
        half_range = np.maximum((s["q99"] - s["q01"]) / 2, _EPS)
        return half_range, (s["q99"] + s["q01"]) / 2

    def normalize(self, key: str, x: Array) -> Array:
        if self.modes.get(key, "identity") == "identity":
            return x
        scale, shift = self._scale_shift(key)
        return (x - _like(shift, x)) / _like(scale, x)

    def unnormalize(self, key: str, x: Array) -> Array:
        if self.modes.get(key, "identity") == "identity":
            return x
        scale, shift = self._scale_shift(key)
        return x * _like(scale, x) + _like(shift, x)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat {"<key>/<stat>": array} for safetensors; modes go to the YAML config."""
        return {f"{key}/{name}": v for key, s in self.stats.items() for name, v in s.items()}

    @classmethod
    def from_state_dict(cls, tensors: Mapping[str, Array], modes: Mapping[str, str]) -> "Normalizer":
        stats: dict[str, dict[str, Array]] = {}
        for flat, value in tensors.items():
            key, name = flat.rsplit("/", 1)
            stats.setdefault(key, {})[name] = np.asarray(value)
        return cls(stats, modes)


def _like(a: np.ndarray, x: Array) -> Array:
    return torch.as_tensor(a, dtype=x.dtype, device=x.device) if isinstance(x, torch.Tensor) else a
