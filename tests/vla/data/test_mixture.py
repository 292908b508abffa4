"""Several recorded datasets (PickCube and PushCube demos) read as one: their concatenation, the
statistics of their union, batches drawn by dataset weight, and errors naming the dataset that differs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key
from vla.data.dataset import DatasetError, dataset_features, load_stats, make_dataloader, make_dataset
from vla.data.stats import read_vectors

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default

CHUNK = 5
STATS = ("mean", "std", "min", "max", "q01", "q99")


def test_union_stats_are_those_of_the_concatenated_frames(recorded: Path, recorded_push: Path) -> None:
    roots = [recorded, recorded_push]
    union = load_stats(roots)
    for key in (OBS_STATE, ACTION):
        values = np.concatenate([read_vectors(r, [key])[key] for r in roots]).astype(np.float64)  # (N, 6)
        expected = {
            "mean": values.mean(0), "std": values.std(0), "min": values.min(0), "max": values.max(0),
            "q01": np.quantile(values, 0.01, axis=0), "q99": np.quantile(values, 0.99, axis=0),
        }  # fmt: skip
        for name in STATS:
            np.testing.assert_allclose(union[key][name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # and not what averaging the two datasets' statistics gives (the bins tokenizer reads q01 / q99)
    a, b = load_stats(recorded), load_stats(recorded_push)
    for name in ("std", "q01", "q99"):
        naive = (a[ACTION][name] + b[ACTION][name]) / 2
        assert np.abs(union[ACTION][name] - naive).max() > 1e-3, name
    assert dataset_features(roots).num_frames == sum(dataset_features(r).num_frames for r in roots)


def test_union_image_stats_pool_counts_means_and_stds(
    recorded: Path, recorded_push: Path, tmp_path: Path
) -> None:
    """lerobot's sampled image statistics cannot be recomputed from frames: given exact per-dataset
    ones, the union's mean / std / min / max are exactly those of the concatenated values."""
    rng = np.random.default_rng(0)
    parts = [rng.normal(0.3, 0.1, (40, 3)), rng.normal(0.6, 0.2, (25, 3))]  # (n_i, channels)
    roots = []
    for src, values in zip((recorded, recorded_push), parts, strict=True):
        root = Path(shutil.copytree(src, tmp_path / src.name))
        path = root / "meta" / "stats.json"
        stored = json.loads(path.read_text())
        stored[image_key("front")] |= {
            name: getattr(values, name)(0).reshape(3, 1, 1).tolist() for name in ("mean", "std", "min", "max")
        } | {"count": [len(values)]}
        path.write_text(json.dumps(stored))
        roots.append(root)
    union = load_stats(roots)[image_key("front")]
    values = np.concatenate(parts)
    for name in ("mean", "std", "min", "max"):
        np.testing.assert_allclose(union[name].reshape(3), getattr(values, name)(0), rtol=1e-5, err_msg=name)


def _items_equal(x: dict, y: dict) -> None:
    assert x[TASK] == y[TASK]
    for key in x.keys() - {TASK}:
        assert torch.equal(torch.as_tensor(x[key]), torch.as_tensor(y[key])), key


def test_concatenation_keeps_each_dataset_whole(recorded: Path, recorded_push: Path) -> None:
    pick, push = (
        make_dataset(recorded, CHUNK, mode="memory"),
        make_dataset(recorded_push, CHUNK, mode="memory"),
    )
    both = make_dataset([recorded, recorded_push], CHUNK, mode="memory")
    assert both.sizes == [len(pick), len(push)] and len(both) == len(pick) + len(push)
    for i in range(len(pick)):
        _items_equal(both[i], pick[i])  # the last frames pad their chunk, never run into PushCube
    for i in range(len(push)):
        _items_equal(both[len(pick) + i], push[i])  # its own instructions and episode ends
    assert torch.equal(both.episode_starts(), torch.cat([pick.episode_starts(), push.episode_starts()]))
    assert both[len(pick) - 1][ACTION_IS_PAD][-1]
    video = make_dataset([recorded, recorded_push], CHUNK, mode="video")
    assert video.sizes == both.sizes and torch.equal(video.episode_starts(), both.episode_starts())
    for i in (0, len(pick) - 1, len(pick), len(both) - 1):  # both sides of the boundary
        _items_equal(video[i], both[i])


def test_batches_are_drawn_by_dataset_weight(recorded: Path, recorded_push: Path) -> None:
    roots = [recorded, recorded_push]
    both = make_dataset(roots, CHUNK, mode="memory")
    n_pick, starts = both.sizes[0], both.episode_starts()
    loader = make_dataloader(
        roots, CHUNK, batch_size=4, seed=1, mode="memory", weights=[3, 1], start_fraction=0.5
    )
    draws = torch.cat([torch.as_tensor(list(loader.sampler)) for _ in range(60)])  # 60 epochs, ~4000 draws
    from_pick = draws < n_pick
    # binomial sd ~0.007 at 4000 draws: 0.03 is > 4 sd
    assert abs(from_pick.float().mean().item() - 0.75) < 0.03
    for part in (from_pick, ~from_pick):  # the start fraction holds within each dataset
        assert abs(starts[draws[part]].float().mean().item() - 0.5) < 0.05
    loader.generator.manual_seed(7)  # what the trainer does each epoch: the order is the seed's alone
    first = list(loader.sampler)
    loader.generator.manual_seed(7)
    assert list(loader.sampler) == first
    equal = make_dataloader(roots, CHUNK, batch_size=4, seed=1, mode="memory", weights=[1, 1])
    share = (torch.cat([torch.as_tensor(list(equal.sampler)) for _ in range(60)]) < n_pick).float().mean()
    assert abs(share.item() - 0.5) < 0.03  # equal shares although PickCube has more frames
    plain = make_dataloader(roots, CHUNK, batch_size=4, seed=1, mode="memory")  # no weights: every frame once
    assert sorted(list(plain.sampler)) == list(range(len(both)))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda info: info.update(fps=30), "has fps 30 but dataset .* has 10"),
        (lambda info: info["features"][image_key("wrist")].update(shape=[32, 32, 3]), "has image_shapes"),
        (lambda info: info["features"][OBS_STATE].update(shape=[7]), "has state_dim 7 but"),
    ],
)
def test_datasets_that_differ_are_named(recorded: Path, tmp_path: Path, edit: object, match: str) -> None:
    other = Path(shutil.copytree(recorded, tmp_path / "other"))
    path = other / "meta" / "info.json"
    info = json.loads(path.read_text())
    edit(info)
    path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=f"dataset {other} {match}"):
        make_dataloader([recorded, other], CHUNK, batch_size=4, mode="memory")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [1]}, r"weights=\[1\] must be 2 numbers > 0"),
        ({"weights": [1, 0]}, r"weights=\[1, 0\] must be 2 numbers > 0"),
        ({"weights": [1, float("nan")]}, "must be 2 numbers > 0"),
        ({"episodes": [0]}, "selects episodes of one dataset; 2 were given"),
    ],
)
def test_bad_mixture_arguments_are_named(
    recorded: Path, recorded_push: Path, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        make_dataloader([recorded, recorded_push], CHUNK, batch_size=4, mode="memory", **kwargs)
