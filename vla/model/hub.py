"""Where a backbone's pretrained weights are, and one clear line when they are not there offline.

`import vla` turns the Hugging Face hub off (HF_HUB_OFFLINE=1). A preset naming a hub id whose
weights were never downloaded would otherwise end deep inside huggingface_hub ("outgoing traffic has
been disabled", two chained tracebacks); `load_backbone` calls `require_weights` first, so it ends in
one MissingWeightsError that names the model, the folder looked in and the two fixes. `vla train`
calls it right after validating its config, before any dataset is recorded or read, and prints the
message alone (`vla train: missing weights: ...`).
"""

import os
from pathlib import Path

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class MissingWeightsError(FileNotFoundError):
    """A backbone's weights are not on disk and the hub is off; the message says how to fix it."""


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def looks_like_folder(pretrained: str) -> bool:
    """A local folder rather than a hub id ("owner/name"): absolute, relative, home or existing paths."""
    return pretrained.startswith(("/", ".", "~")) or pretrained.count("/") != 1 or Path(pretrained).exists()


def cache_folder(repo_id: str) -> Path:
    """The hub cache folder of a model repo (HF_HUB_CACHE, HF_HOME respected)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def local_snapshot(repo_id: str) -> Path | None:
    """The downloaded snapshot of `repo_id` holding config.json and weights, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None
    return folder if _has_weights(folder) else None


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / f).is_file() for f in WEIGHT_FILES)


def local_folder(pretrained: str) -> Path | None:
    """The folder holding `pretrained`'s files on this machine (a local folder or a downloaded hub
    snapshot), or None."""
    if looks_like_folder(pretrained):
        folder = Path(pretrained).expanduser()
        return folder if _has_weights(folder) else None
    return local_snapshot(pretrained)


def missing_weights(pretrained: str | None) -> str | None:
    """None when `pretrained` can be loaded now (a folder with weights, a downloaded hub id, or the hub
    on); else one line naming the model, where it was looked for, and the two fixes."""
    if not pretrained:
        return None
    if looks_like_folder(pretrained):
        folder = Path(pretrained).expanduser()
        if _has_weights(folder):
            return None
        return (
            f"backbone.pretrained={pretrained}: no config.json + weights ({' or '.join(WEIGHT_FILES)}) in "
            f"{folder.resolve()}; point backbone.pretrained at a folder written by save_pretrained or a "
            "hub snapshot"
        )
    if not hub_offline() or local_snapshot(pretrained) is not None:
        return None
    return (
        f"backbone.pretrained={pretrained}: its weights are not on disk (looked in "
        f"{cache_folder(pretrained)}) and the hub is off (HF_HUB_OFFLINE=1). Fix: download them once "
        f"by running the same command with HF_HUB_OFFLINE=0 (or `HF_HUB_OFFLINE=0 hf download "
        f"{pretrained}`), or set backbone.pretrained=<folder holding the weights>"
    )


def require_weights(pretrained: str | None) -> None:
    message = missing_weights(pretrained)
    if message is not None:
        raise MissingWeightsError(message)
