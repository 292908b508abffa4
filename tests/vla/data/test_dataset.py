"""make_dataloader / load_stats / dataset_features on a dataset recorded with the real env."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key
from vla.data import meta
from vla.data.dataset import dataset_features, load_stats, make_dataloader, make_dataset
from vla.data.normalize import compute_stats
from vla.data.stats import read_vectors

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default

CHUNK = 5
KEYS = {image_key("front"), image_key("wrist"), OBS_STATE, ACTION, ACTION_IS_PAD, TASK}


def _first_batch(root: Path, mode: str, **kw: object) -> dict:
    loader = make_dataloader(root, chunk_size=CHUNK, batch_size=8, shuffle=False, mode=mode, **kw)
    return next(iter(loader))


def test_batch_follows_the_contract(recorded: Path) -> None:
    batch = _first_batch(recorded, "memory")
    assert set(batch) == KEYS
    for cam in ("front", "wrist"):
        img = batch[image_key(cam)]
        assert img.shape == (8, 3, 64, 64) and img.dtype == torch.float32
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.05  # real rendered pixels
    assert batch[OBS_STATE].shape == (8, 6) and batch[OBS_STATE].dtype == torch.float32
    assert batch[ACTION].shape == (8, CHUNK, 6) and batch[ACTION_IS_PAD].dtype == torch.bool
    assert batch[TASK] == [meta.read_sidecar(recorded)[0]["task"]] * 8  # the first 8 frames: episode 0


def test_memory_and_video_modes_give_identical_batches(recorded: Path) -> None:
    memory, video = _first_batch(recorded, "memory"), _first_batch(recorded, "video")
    assert set(memory) == set(video) == KEYS
    for key in KEYS - {TASK}:
        assert torch.equal(memory[key], video[key]), key
    assert memory[TASK] == video[TASK]


def test_action_chunks_are_the_next_actions_padded_at_episode_end(recorded: Path) -> None:
    data = read_vectors(recorded, [ACTION])[ACTION]  # (N, 6)
    ds = make_dataset(recorded, CHUNK, mode="memory")
    for ep in meta.read_episodes(recorded):
        start, end = ep["dataset_from_index"], ep["dataset_to_index"]
        for i in range(start, end):
            item = ds[i]
            valid = min(CHUNK, end - i)
            np.testing.assert_array_equal(item[ACTION][:valid].numpy(), data[i : i + valid])
            assert item[ACTION_IS_PAD].tolist() == [False] * valid + [True] * (CHUNK - valid)
            np.testing.assert_array_equal(
                item[ACTION][valid:].numpy(), np.repeat(data[end - 1 : end], CHUNK - valid, 0)
            )


def test_stats_are_exact_over_all_frames(recorded: Path) -> None:
    stats = load_stats(recorded)
    values = read_vectors(recorded, [OBS_STATE, ACTION])
    for key in (OBS_STATE, ACTION):
        expected = compute_stats(values[key])
        for name in ("mean", "std", "min", "max", "q01", "q99"):
            np.testing.assert_allclose(
                stats[key][name], expected[name], rtol=1e-5, atol=1e-6, err_msg=f"{key}/{name}"
            )
    assert stats[image_key("front")]["mean"].shape == (3, 1, 1)  # lerobot's per-channel image stats


def test_stats_missing_quantiles_are_computed_from_the_data(dataset_copy: Path) -> None:
    path = dataset_copy / "meta" / "stats.json"
    stored = json.loads(path.read_text())
    for key in (OBS_STATE, ACTION):
        del stored[key]["q01"], stored[key]["q99"]  # as datasets written by lerobot < 0.4
    path.write_text(json.dumps(stored))
    expected = compute_stats(read_vectors(dataset_copy, [ACTION])[ACTION])
    np.testing.assert_allclose(load_stats(dataset_copy)[ACTION]["q99"], expected["q99"], rtol=1e-6)


def test_dataset_features(recorded: Path) -> None:
    f = dataset_features(recorded)
    assert f.cameras == ("front", "wrist") and f.image_shapes["front"] == (3, 64, 64)
    assert (f.state_dim, f.action_dim, f.fps, f.num_episodes) == (6, 6, 10, 4)
    assert set(f.tasks) == {r["task"] for r in meta.read_sidecar(recorded)}


def test_episode_subset_and_seeded_shuffle_with_workers(recorded: Path) -> None:
    lengths = [e["length"] for e in meta.read_episodes(recorded)]
    assert len(make_dataset(recorded, CHUNK, mode="memory", episodes=[1, 3])) == lengths[1] + lengths[3]

    def states(workers: int, seed: int) -> torch.Tensor:
        loader = make_dataloader(recorded, CHUNK, batch_size=4, num_workers=workers, seed=seed, mode="memory")
        return torch.cat([b[OBS_STATE] for b in loader])

    assert torch.equal(states(0, seed=3), states(2, seed=3))
    assert not torch.equal(states(0, seed=3), states(0, seed=4))


def test_start_fraction_draws_that_share_of_episode_first_frames(recorded: Path) -> None:
    memory, video = make_dataset(recorded, CHUNK, mode="memory"), make_dataset(recorded, CHUNK, mode="video")
    starts = memory.episode_starts()
    assert torch.equal(starts, video.episode_starts()) and int(starts.sum()) == 4  # 4 episodes

    def drawn(seed: int) -> torch.Tensor:
        loader = make_dataloader(recorded, CHUNK, batch_size=4, seed=seed, mode="memory", start_fraction=0.5)
        return torch.cat([torch.as_tensor(list(loader.sampler)) for _ in range(20)])  # 20 epochs

    indices = drawn(seed=1)
    assert len(indices) == 20 * len(starts)
    share = starts[indices].float().mean().item()
    assert 0.45 < share < 0.55, share  # ~4 / len(starts) (<0.1) without it
    loader = make_dataloader(recorded, CHUNK, batch_size=4, seed=1, mode="memory", start_fraction=0.5)
    assert torch.equal(torch.as_tensor(list(loader.sampler)), indices[: len(starts)])  # seeded
    loader.generator.manual_seed(1)  # what the trainer does per epoch: the same order again
    assert torch.equal(torch.as_tensor(list(loader.sampler)), indices[: len(starts)])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk_size": 0}, "chunk_size=0 must be >= 1"),
        ({"mode": "disk"}, "mode='disk' is not one of"),
        ({"episodes": [0, 9]}, r"episodes \[9\] do not exist"),
        ({"batch_size": 0}, "batch_size=0 must be >= 1"),
        ({"start_fraction": 1.0}, r"start_fraction=1.0 must be in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_named(recorded: Path, kwargs: dict, match: str) -> None:
    args = {"chunk_size": CHUNK, "batch_size": 4, "mode": "memory", **kwargs}
    with pytest.raises(ValueError, match=match):
        make_dataloader(recorded, **args)
