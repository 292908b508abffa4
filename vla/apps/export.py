"""`vla export`: a trained VLA policy as a standalone folder, optionally with its LoRA merged.

    vla export outputs/train/<run> outputs/export/pick           # the policy as saved (an adapter
                                                                 # checkpoint still needs its base)
    vla export outputs/train/<run> outputs/export/pick --merge   # full weights: LoRA and the new-token
                                                                 # rows folded in; no base, no peft

The source is a run dir, a checkpoint, or a policy folder (what save_pretrained writes).
The output is a pretrained/ folder that `vla eval`, `vla deploy` and VLAPolicy.from_pretrained load.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

from vla import checkpoint as ckpt


def policy_dir(source: str | Path) -> Path:
    """A save_pretrained folder as given, else the deployable policy of a run or checkpoint."""
    path = Path(source)
    weights = any((path / name).exists() for name in ("model.safetensors", "adapter.safetensors"))
    return path if (path / "config.yaml").exists() and weights else ckpt.pretrained_dir(path)


def export(source: str | Path, out: str | Path, merge: bool = False) -> tuple[Path, int]:
    """Writes the policy of `source` to `out`; returns (out, LoRA layers merged)."""
    src, out = policy_dir(source), Path(out)
    if src.resolve() == out.resolve():
        raise ValueError(f"{out} is the checkpoint itself: export to another folder")
    if not merge:
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.copytree(src, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        return out, 0
    from policies.vla.policy import VLAPolicy  # only a VLA has adapters to merge

    policy = VLAPolicy.from_pretrained(src)
    merged = policy.model.backbone.merge_adapters()
    policy.save_pretrained(out)  # full weights now: model.safetensors, backbone.lora_rank 0
    return out, merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vla export", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="run dir, checkpoint or pretrained/ folder (as vla eval policy_path=)")
    parser.add_argument("out", help="folder to write (replaced if it exists)")
    parser.add_argument("--merge", action="store_true", help="fold LoRA adapters into full weights")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out, merged = export(args.source, args.out, args.merge)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"vla export: {err}")
    note = f" ({merged} LoRA layers merged into full weights)" if args.merge else ""
    print(f"exported {policy_dir(args.source)} -> {out}{note}")


if __name__ == "__main__":
    main()
