"""Run logging that needs no service: metrics.jsonl + PNG plots, plus wandb (offline by default).

Every record is one JSON line {"step": int, "split": "train" | "eval", <metric>: float, ...}; the
plots are redrawn from that file, so they can also be made after the fact with `plot_metrics(run_dir)`.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

METRICS_FILE = "metrics.jsonl"
WANDB_MODES = ("online", "offline", "disabled")


class RunLogger:
    """Writes metrics to metrics.jsonl and wandb; only the main process should create one."""

    def __init__(self, run_dir: str | Path, wandb_cfg: Mapping[str, Any], config: Mapping[str, Any]):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        self._wandb = _init_wandb(self.run_dir, wandb_cfg, config)

    def truncate_after(self, step: int) -> None:
        """On resume: drop records newer than the checkpoint (they will be produced again)."""
        if self.path.exists():
            kept = [r for r in read_metrics(self.path) if r["step"] <= step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def log(self, step: int, metrics: Mapping[str, float], split: str = "train") -> None:
        record = {"step": int(step), "split": split, **{k: _scalar(v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._wandb is not None:
            self._wandb.log(
                {f"{split}/{k}": v for k, v in record.items() if k not in ("step", "split")}, step=step
            )

    def close(self) -> list[Path]:
        plots = plot_metrics(self.run_dir)
        if self._wandb is not None:
            self._wandb.finish()
        return plots


def _init_wandb(run_dir: Path, cfg: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    mode = cfg.get("mode", "offline")
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb.mode={mode!r} is not one of {WANDB_MODES}")
    if mode == "disabled":
        return None
    import wandb  # heavy: only when used

    id_file = run_dir / "wandb_id.txt"  # the same wandb run continues after a resume
    run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
    id_file.write_text(run_id)
    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(
        project=cfg.get("project", "vla"),
        entity=cfg.get("entity"),
        name=cfg.get("name"),
        mode=mode,
        dir=str(run_dir),
        id=run_id,
        resume="allow",
        config=dict(config),
    )


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metrics(run_dir: str | Path) -> list[Path]:
    """plots/loss.png (train loss and learning rate) and plots/success.png (eval success per split)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    out_dir = Path(run_dir) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    train = [r for r in records if r["split"] == "train" and "loss" in r]
    if train:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
        ax.set(xlabel="step", ylabel="loss", yscale="log", title="training loss")
        if "lr" in train[0]:
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in train], [r["lr"] for r in train], color="tab:gray", alpha=0.5)
            ax2.set_ylabel("learning rate", color="tab:gray")
        written.append(_save(fig, out_dir / "loss.png"))
    evals = [r for r in records if r["split"] == "eval"]
    keys = sorted({k for r in evals for k in r if k.startswith("success/")})
    if keys:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            pts = [(r["step"], r[key]) for r in evals if key in r]
            ax.plot(*zip(*pts, strict=True), marker="o", label=key.removeprefix("success/"))
        ax.set(xlabel="step", ylabel="success rate", ylim=(-0.05, 1.05), title="sim evaluation")
        ax.legend(fontsize="small")
        written.append(_save(fig, out_dir / "success.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def progress(total: int, initial: int = 0, disable: bool = False) -> tqdm:
    """A progress bar in steps with steps/s and ETA (tqdm's rate and remaining time)."""
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, disable=disable, smoothing=0.1)
