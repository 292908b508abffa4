"""Normalisation statistics stored with a dataset (meta/stats.json, lerobot's format).

lerobot computes per-episode statistics and aggregates quantiles across episodes as a
count-weighted mean of the episode quantiles, which is not the dataset's quantile (the 1st
percentile of the union is not the mean of per-episode 1st percentiles). At every commit
`vla record` recomputes the vector features (state, action) exactly over all frames and writes
them back into meta/stats.json, keeping lerobot's keys (min, max, mean, std, count, q01..q99) so
lerobot and other tools read the same file. Image statistics are left as lerobot sampled them.

Several datasets trained on together get the statistics of their union (load_stats with a list):
the vector features' again exactly over the concatenated frames (mean, std, min, max and the
quantiles the tokenizers and the quantile normaliser use), the image features' pooled from each
dataset's count, mean and std (min/max as min/max; their quantiles count-weighted, as lerobot's
aggregate_stats: no policy here reads image quantiles).
"""

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from vla.data import meta
from vla.data.normalize import STAT_NAMES, compute_stats

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}  # lerobot's DEFAULT_QUANTILES


def vector_keys(info: dict) -> list[str]:
    """Float vector features (state, action, ...) that get exact statistics."""
    return [
        k
        for k, ft in info["features"].items()
        if ft["dtype"].startswith("float") and k not in meta.LEROBOT_COLUMNS and len(ft["shape"]) == 1
    ]


def data_files(root: Path) -> list[Path]:
    files = sorted(root.glob("data/chunk-*/file-*.parquet"))
    if not files:
        raise meta.DatasetError(
            f"{root}/data/ holds no parquet file; the dataset has no frames: {meta.RECORD_HINT}"
        )
    return files


def column_array(table: pa.Table, key: str, dim: int, path: Path) -> np.ndarray:
    """A fixed-size vector column as (N, dim) float32, with a clear error on a shape mismatch."""
    if key not in table.schema.names:
        raise meta.DatasetError(
            f"{path} has no column {key!r} (it has {table.schema.names}); the file does not match "
            "meta/info.json: re-record the dataset or restore the file"
        )
    column = table.column(key).combine_chunks()
    values = column.flatten().to_numpy(zero_copy_only=False) if dim > 0 else column.to_numpy()
    if values.size != len(table) * dim:
        raise meta.DatasetError(
            f"{path}: column {key!r} holds {values.size / max(len(table), 1):g} values per frame, "
            f"meta/info.json says {dim}; the file does not match the dataset's features"
        )
    return values.reshape(len(table), dim).astype(np.float32)


def read_vectors(root: str | Path, keys: list[str]) -> dict[str, np.ndarray]:
    """All frames of the given vector features, in global frame order: key -> (N, D) float32."""
    root = Path(root)
    info = meta.read_info(root)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    order: list[np.ndarray] = []
    for path in data_files(root):
        table = meta.read_table(path, columns=[*keys, "index"])
        order.append(table.column("index").to_numpy())
        for key in keys:
            parts[key].append(column_array(table, key, int(info["features"][key]["shape"][0]), path))
    perm = np.argsort(np.concatenate(order), kind="stable")
    return {k: np.concatenate(v)[perm] for k, v in parts.items()}


def exact_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """values (N, D) -> lerobot's stats keys, quantiles exact (np.quantile, linear)."""
    stats = compute_stats(values)
    stats |= {
        name: np.quantile(values.astype(np.float64), q, axis=0).astype(np.float32)
        for name, q in QUANTILES.items()
    }
    stats["count"] = np.array([len(values)], dtype=np.int64)
    return stats


def write_exact_stats(root: str | Path) -> None:
    """Replaces the vector features' entries of meta/stats.json with exact statistics."""
    root = Path(root)
    info = meta.read_info(root)
    keys = vector_keys(info)
    path = root / "meta" / "stats.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for key, values in read_vectors(root, keys).items():
        stored[key] = {name: v.tolist() for name, v in exact_stats(values).items()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stored, indent=4))
    os.replace(tmp, path)


def load_stats(roots: meta.Roots) -> dict[str, dict[str, np.ndarray]]:
    """{feature: {mean, std, min, max, q01, q99}} from meta/stats.json; of several folders, of their union
    (module doc): the features all of them have.

    Datasets recorded elsewhere may lack quantiles (lerobot < 0.4 wrote only mean/std/min/max):
    the vector features' statistics are then computed from the parquet files (not written back:
    the folder may not be ours).
    """
    paths = meta.as_roots(roots)
    if len(paths) > 1:
        return _union_stats(paths)
    root = paths[0]
    info = meta.read_info(root)
    stats = {
        key: {name: np.asarray(s[name], dtype=np.float32) for name in STAT_NAMES}
        for key, s in _stored(root).items()
        if key in info["features"] and key not in meta.LEROBOT_COLUMNS and all(n in s for n in STAT_NAMES)
    }
    missing = [k for k in vector_keys(info) if k not in stats]
    if missing:
        stats |= {k: compute_stats(v) for k, v in read_vectors(root, missing).items()}
    return stats


def _stored(root: Path) -> dict:
    path = root / "meta" / "stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _union_stats(roots: list[Path]) -> dict[str, dict[str, np.ndarray]]:
    """Statistics of the concatenation of several datasets (module doc)."""
    each = [load_stats(root) for root in roots]
    common = set.intersection(*(set(s) for s in each))
    vectors = [k for k in vector_keys(meta.read_info(roots[0])) if k in common]
    columns = [read_vectors(root, vectors) for root in roots]
    union = {k: compute_stats(np.concatenate([c[k] for c in columns])) for k in vectors}
    for key in sorted(common - set(vectors)):
        counts = [_count(root, key) for root in roots]
        union[key] = _pooled([s[key] for s in each], counts)
    return union


def _count(root: Path, key: str) -> int:
    """Frames behind a stored statistic (lerobot stores `count`; older datasets: all frames)."""
    count = _stored(root).get(key, {}).get("count")
    if count is None:
        return int(meta.read_info(root)["total_frames"])
    return int(np.asarray(count).reshape(-1)[0])


def _pooled(stats: list[dict[str, np.ndarray]], counts: list[int]) -> dict[str, np.ndarray]:
    """Union statistics from per-part ones: the pooled mean and variance (within + between parts)."""
    w = np.asarray(counts, dtype=np.float64) / sum(counts)  # (P,)

    def weighted(values: list[np.ndarray]) -> np.ndarray:
        return np.tensordot(w, np.stack(values).astype(np.float64), axes=1)

    mean = weighted([s["mean"] for s in stats])
    var = weighted([s["std"].astype(np.float64) ** 2 + (s["mean"] - mean) ** 2 for s in stats])
    out = {
        "mean": mean, "std": np.sqrt(var),
        "min": np.min([s["min"] for s in stats], axis=0), "max": np.max([s["max"] for s in stats], axis=0),
        "q01": weighted([s["q01"] for s in stats]), "q99": weighted([s["q99"] for s in stats]),
    }  # fmt: skip
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
