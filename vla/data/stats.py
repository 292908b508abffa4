"""Normalisation statistics stored with a dataset (meta/stats.json, lerobot's format).

lerobot computes per-episode statistics and aggregates quantiles across episodes as a
count-weighted mean of the episode quantiles, which is not the dataset's quantile (the 1st
percentile of the union is not the mean of per-episode 1st percentiles). At every commit
`vla record` recomputes the vector features (state, action) exactly over all frames and writes
them back into meta/stats.json, keeping lerobot's keys (min, max, mean, std, count, q01..q99) so
lerobot and other tools read the same file. Image statistics are left as lerobot sampled them.
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


def load_stats(root: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{feature: {mean, std, min, max, q01, q99}} from meta/stats.json.

    Datasets recorded elsewhere may lack quantiles (lerobot < 0.4 wrote only mean/std/min/max):
    the vector features' statistics are then computed from the parquet files (not written back:
    the folder may not be ours).
    """
    root = Path(root)
    info = meta.read_info(root)
    path = root / "meta" / "stats.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stats = {
        key: {name: np.asarray(s[name], dtype=np.float32) for name in STAT_NAMES}
        for key, s in stored.items()
        if key in info["features"] and key not in meta.LEROBOT_COLUMNS and all(n in s for n in STAT_NAMES)
    }
    missing = [k for k in vector_keys(info) if k not in stats]
    if missing:
        stats |= {k: compute_stats(v) for k, v in read_vectors(root, missing).items()}
    return stats
