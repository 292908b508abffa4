"""Offline evaluation on held-out episodes, for training without a simulator (`vla train env=none`).

A real robot's recording has no env to roll the policy out in, so validation compares the policy's
action chunks with the recorded ones on episodes it never trained on:
- action MSE and L1 per joint (robot units), over every non-padded step of the predicted chunks;
- the policy's own loss metrics on those batches (the VLA's `token_acc`: the share of action tokens it
  predicts exactly);
- an open-loop plot per episode for a few of them: a chunk predicted every `n_action_steps` frames from
  the recorded observation, its first `n_action_steps` actions laid end to end, against the recorded
  action, one panel per joint (what `vla deploy` would command, minus the feedback of its own motion).

The held-out episodes are spread evenly over the recording (sessions drift: the last ones alone would
measure the drift), the same for every run on the same dataset, and never in the training batches.
The policy is duck-typed: `compute_loss(batch) -> (loss, metrics)`, `predict_batch(batch) -> (B, T, D)`.
"""

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from vla.constants import ACTION, ACTION_IS_PAD
from vla.data.dataset import collate, make_dataset

log = logging.getLogger(__name__)
PREFIX = "val/"  # metric keys: val/action_mse, val/action_l1/<joint>, val/token_acc, ...


def heldout_episodes(num_episodes: int, heldout: float | int) -> list[int]:
    """Episode indices held out of training: a share (0 < heldout < 1, at least one) or a count (>= 1),
    evenly spaced over the recording; [] for 0."""
    if heldout == 0:
        return []
    count = int(heldout) if heldout >= 1 else max(1, round(heldout * num_episodes))
    if count >= num_episodes:
        raise ValueError(
            f"holding out {count} of {num_episodes} episode(s) leaves none to train on; record more episodes "
            "or lower eval.offline.heldout_episodes (0: no offline evaluation)"
        )
    return sorted({int(i) for i in np.linspace(0, num_episodes - 1, count + 2)[1:-1].round()})


class OfflineEvaluator:
    """(policy, step) -> metrics on the held-out episodes; writes report.md, metrics.json and plots."""

    def __init__(
        self,
        root: str | Path,
        episodes: Sequence[int],
        chunk_size: int,
        out_root: str | Path,
        joint_names: Sequence[str] = (),
        plot_episodes: int = 2,
        max_frames: int = 2000,
        batch_size: int = 16,
    ) -> None:
        self.root, self.episodes, self.out_root = Path(root), list(episodes), Path(out_root)
        self.dataset = make_dataset(root, chunk_size, episodes=self.episodes)  # decoded once, kept
        starts = torch.nonzero(self.dataset.episode_starts()).flatten().tolist()
        self.spans = list(zip(starts, [*starts[1:], len(self.dataset)], strict=True))  # per held-out episode
        picked = np.unique(np.linspace(0, len(self.dataset) - 1, min(max_frames, len(self.dataset))).round())
        scored = Subset(self.dataset, picked.astype(int).tolist())
        self.loader = DataLoader(scored, batch_size=batch_size, shuffle=False, collate_fn=collate)
        self.joint_names, self.plot_episodes = list(joint_names), plot_episodes

    def __call__(self, policy: Any, step: int) -> dict[str, float]:
        out = self.out_root / f"step_{step:06d}"
        out.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            metrics = self._score(policy)
            plots = [self._plot(policy, i, out) for i in range(min(self.plot_episodes, len(self.spans)))]
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        (out / "report.md").write_text(self._report(metrics, plots, step))
        return metrics

    def _score(self, policy: Any) -> dict[str, float]:
        sq = ab = count = 0.0
        extra: dict[str, list[float]] = {}
        for batch in self.loader:
            _, found = policy.compute_loss(batch)
            for key, value in found.items():
                extra.setdefault(key, []).append(float(value))
            pred = np.asarray(policy.predict_batch(batch), dtype=np.float64)  # (B, T, D)
            real = ~np.asarray(batch[ACTION_IS_PAD], dtype=bool)  # (B, T)
            err = (pred - np.asarray(batch[ACTION], dtype=np.float64))[real]  # (N, D) non-padded steps
            sq, ab, count = sq + (err**2).sum(0), ab + np.abs(err).sum(0), count + len(err)
        mse, l1 = sq / max(count, 1), ab / max(count, 1)
        metrics = {f"{PREFIX}{k}": float(np.mean(v)) for k, v in extra.items()}
        metrics |= {f"{PREFIX}action_mse": float(mse.mean()), f"{PREFIX}action_l1": float(l1.mean())}
        for d, name in enumerate(self._names(len(mse))):
            metrics |= {
                f"{PREFIX}action_mse/{name}": float(mse[d]),
                f"{PREFIX}action_l1/{name}": float(l1[d]),
            }
        return metrics

    def _names(self, dims: int) -> list[str]:
        return self.joint_names if len(self.joint_names) == dims else [f"joint_{d}" for d in range(dims)]

    def open_loop(self, policy: Any, episode: int) -> tuple[np.ndarray, np.ndarray]:
        """(predicted (T, D), recorded (T, D)) actions of the i-th held-out episode (module doc)."""
        begin, end = self.spans[episode]
        n = max(1, int(getattr(policy, "n_action_steps", 1) or 1))
        recorded = np.asarray(self._batch(range(begin, end))[ACTION])[:, 0]  # (T, D) each frame's action
        batch = self._batch(range(begin, end, n))
        chunks = np.asarray(policy.predict_batch(batch))[:, :n]  # (K, n, D)
        return chunks.reshape(-1, chunks.shape[-1])[: end - begin], recorded

    def _batch(self, indices: range) -> dict[str, Any]:
        if hasattr(self.dataset, "__getitems__"):  # the in-memory dataset slices a whole batch at once
            return self.dataset.__getitems__(list(indices))
        return collate([self.dataset[i] for i in indices])

    def _plot(self, policy: Any, episode: int, out: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        predicted, recorded = self.open_loop(policy, episode)
        dims = recorded.shape[1]
        cols = min(3, dims)
        rows = -(-dims // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False, sharex=True)
        fps = float(getattr(policy, "fps", None) or 1)
        t = np.arange(len(recorded)) / fps
        for d, ax in enumerate(axes.flat):
            if d >= dims:
                ax.axis("off")
                continue
            ax.plot(t, recorded[:, d], label="recorded")
            ax.plot(t[: len(predicted)], predicted[:, d], "--", label="predicted (open loop)")
            ax.set_title(self._names(dims)[d], fontsize=10)
            ax.grid(alpha=0.3)
        axes.flat[0].legend(fontsize=8)
        for ax in axes[-1]:
            ax.set_xlabel("time [s]" if fps != 1 else "frame")
        fig.suptitle(f"{self.root.name}: held-out episode {self.episodes[episode]}", fontsize=11)
        fig.tight_layout()
        path = out / f"open_loop_episode_{self.episodes[episode]:06d}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def _report(self, metrics: dict[str, float], plots: list[Path], step: int) -> str:
        names = [
            k.removeprefix(f"{PREFIX}action_mse/") for k in metrics if k.startswith(f"{PREFIX}action_mse/")
        ]
        lines = [
            f"# Offline evaluation at step {step}: {self.root} (held-out episodes {self.episodes})",
            "",
            "| joint | action MSE | action L1 |",
            "|---|---|---|",
        ]
        lines += [
            f"| {n} | {metrics[f'{PREFIX}action_mse/{n}']:.5g} | {metrics[f'{PREFIX}action_l1/{n}']:.5g} |"
            for n in names
        ]
        lines.append(
            f"| **mean** | {metrics[f'{PREFIX}action_mse']:.5g} | {metrics[f'{PREFIX}action_l1']:.5g} |"
        )
        others = {k: v for k, v in metrics.items() if "/action_" not in k}
        lines += ["", ", ".join(f"{k} {v:.4g}" for k, v in others.items()), ""]
        lines += [f"![open loop]({p.name})" for p in plots]
        return "\n".join(lines) + "\n"
