"""Which inputs does a trained policy use? Its loss with each input swapped across the batch.

    python -m vla.apps.probe outputs/demo/<run> outputs/demo/touch_cube_slots_1800

For a batch of the dataset, the policy's loss as is, then with one input (the images of each camera,
the state, the instruction) rolled by one row, so every sample gets another sample's value. An input
the policy relies on raises the loss; one it ignores leaves it unchanged. Two batches: episode
starts (frame 0: the arm is at home, only the images and the words say where to go) and random frames.
"""

import argparse
from typing import Any

import torch

from vla.apps.eval import load_policy
from vla.constants import OBS_IMAGES, OBS_STATE, TASK
from vla.data.memory import InMemoryDataset, load_frames


def swapped_losses(policy: Any, batch: dict[str, Any]) -> dict[str, float]:
    """{"as is": loss, "<input> swapped": loss, ...} for one batch."""
    keys = [k for k in batch if k.startswith(OBS_IMAGES + ".")] + [OBS_STATE, TASK]
    out = {"as is": float(policy.compute_loss(batch)[0])}
    for key in keys:
        value = batch[key]
        rolled = value[1:] + value[:1] if isinstance(value, list) else torch.roll(value, 1, 0)
        name = f"{key.removeprefix('observation.')} swapped"
        out[name] = float(policy.compute_loss({**batch, key: rolled})[0])
    return out


def probe(policy_path: str, dataset_root: str, num_samples: int = 128, seed: int = 0) -> dict[str, dict]:
    policy, _ = load_policy(policy_path, None)
    policy.eval()
    frames = load_frames(dataset_root)
    data = InMemoryDataset(frames, policy.cfg.chunk_size)
    gen = torch.Generator().manual_seed(seed)
    starts = data.episode_starts().nonzero().flatten()  # (E,) sample indices
    picks = {
        "episode starts": starts[torch.randperm(len(starts), generator=gen)[:num_samples]],
        "random frames": torch.randperm(len(frames), generator=gen)[:num_samples],
    }
    with torch.no_grad():
        return {name: swapped_losses(policy, data.__getitems__(idx.tolist())) for name, idx in picks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("policy", help="a run dir, checkpoint dir or pretrained/ dir")
    parser.add_argument("dataset", help="the LeRobotDataset root it was trained on")
    parser.add_argument("--samples", type=int, default=128, help="samples per batch (default 128)")
    args = parser.parse_args()
    results = probe(args.policy, args.dataset, args.samples)
    columns = list(next(iter(results.values())))
    print("| batch | " + " | ".join(columns) + " |")
    print("|---" * (1 + len(columns)) + "|")
    for name, losses in results.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in losses.values()) + " |")


if __name__ == "__main__":
    main()
