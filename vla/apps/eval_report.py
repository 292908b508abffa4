"""Evaluation report: success with 95% Wilson intervals per task and split, markdown, bar plot, videos."""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vla.apps.eval_episodes import EpisodeResult

Z95 = 1.959964  # two-sided 95% normal quantile
AVERAGE = "average"  # the task column of the rows over all tasks of a split
QA_ALL = "all"  # the type column of a split's pooled scene-question row (eval.qa_dataset)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (better than p +- z*se at small n and p near 0/1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def summarize(episodes: Sequence[EpisodeResult]) -> list[dict[str, Any]]:
    """One row per (task, split) in first-seen order; with several tasks, an AVERAGE row per split.

    The average row pools the split's episodes: with the same number per task (as evaluate runs them)
    its rate is the mean of the task rates, and its interval the Wilson interval of the pooled count.
    """
    keys = list(dict.fromkeys((e.task, e.split) for e in episodes))
    tasks = list(dict.fromkeys(e.task for e in episodes))
    if len(tasks) > 1:
        keys += [(AVERAGE, s) for s in dict.fromkeys(e.split for e in episodes)]
    rows = []
    for task, split in keys:
        eps = [e for e in episodes if (task in (AVERAGE, e.task)) and e.split == split]
        k, n = sum(e.success for e in eps), len(eps)
        lo, hi = wilson_interval(k, n)
        rows.append({
            "task": task, "split": split, "episodes": n, "successes": k, "success_rate": k / n,
            "ci95_low": lo, "ci95_high": hi, "mean_length": float(np.mean([e.length for e in eps])),
        })  # fmt: skip
    return rows


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Milliseconds per policy inference call (one action chunk, or one expert action)."""
    if not seconds:
        return {"calls": 0}
    ms = np.asarray(seconds) * 1000
    return {
        "calls": len(ms), "mean_ms": float(ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()),
    }  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation: {report['policy']} on {report['env_id']}",
        "",
        "| task | split | success | 95% CI (Wilson) | episodes | mean length |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        task = f"**{r['task']}**" if r["task"] == AVERAGE else r["task"]
        lines.append(
            f"| {task} | {r['split']} | {r['success_rate']:.0%} ({r['successes']}/{r['episodes']}) "
            f"| [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}] | {r['episodes']} | {r['mean_length']:.1f} |"
        )
    lat = report["latency"]
    if lat.get("calls"):
        lines += [
            "",
            f"Policy latency per inference call: mean {lat['mean_ms']:.1f} ms, p50 {lat['p50_ms']:.1f} ms, "
            f"p95 {lat['p95_ms']:.1f} ms ({lat['calls']} calls).",
        ]
    lines += _metaworld_groups(report["rows"])
    lines += _qa_table(report.get("qa"))
    seeds = report["seeds"]
    tasks = report.get("tasks") or []
    if len(tasks) > 1:
        lines += ["", f"Average: over the {len(tasks)} tasks, {seeds['n_episodes']} episodes each per split."]
    lines += [
        "",
        f"Seeds: episode i of each task and split uses seed {seeds['base']} + i (i < {seeds['n_episodes']}).",
    ]
    return "\n".join(lines) + "\n"


def _qa_table(qa: dict[str, Any] | None) -> list[str]:
    """eval.qa_dataset: scene-question accuracy per split and question type (vla/apps/eval_qa.py)."""
    if not qa:
        return []
    lines = [
        "", f"Scene questions on {qa['dataset']} (exact match after strip/lower):", "",
        "| split | type | accuracy | 95% CI (Wilson) | questions |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for r in qa["rows"]:
        kind = f"**{r['type']}**" if r["type"] == QA_ALL else r["type"]
        lines.append(
            f"| {r['split']} | {kind} | {r['accuracy']:.0%} ({r['correct']}/{r['questions']}) "
            f"| [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}] | {r['questions']} |"
        )
    return lines


def _metaworld_groups(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Meta-World tasks only: success per difficulty group and split, and the published MT50 averages."""
    from envs.metaworld import DIFFICULTY, PUBLISHED_MT50, TASK_DIFFICULTY

    own = [r for r in rows if r["task"] != AVERAGE]
    if not own or any(r["task"] not in TASK_DIFFICULTY for r in own):
        return []
    lines = ["", "Meta-World by difficulty (pooled over the group's evaluated tasks):", "",
             "| group | split | tasks | success | 95% CI (Wilson) |", "|---|---|---|---|---|"]  # fmt: skip
    for split in dict.fromkeys(r["split"] for r in own):
        for group, names in [*DIFFICULTY.items(), ("all", tuple(TASK_DIFFICULTY))]:
            picked = [r for r in own if r["split"] == split and r["task"] in names]
            if not picked:
                continue
            k, n = sum(r["successes"] for r in picked), sum(r["episodes"] for r in picked)
            lo, hi = wilson_interval(k, n)
            lines.append(
                f"| {group} | {split} | {len(picked)}/{len(names)} | {k / n:.1%} ({k}/{n}) "
                f"| [{lo:.2f}, {hi:.2f}] |"
            )
    train = [r for r in own if r["split"] == "train"]
    if train:
        mean = sum(r["success_rate"] for r in train) / len(train)
        lines += ["", "| policy | MT50 success (%) |", "|---|---|",
                  f"| this evaluation (train split, {len(train)}/50 tasks) | {100 * mean:.1f} |"]  # fmt: skip
        lines += [f"| {name} (published) | {value} |" for name, value in PUBLISHED_MT50.items()]
        lines += [
            "",
            'Published: MT50 averages from the SmolVLA and Evo-1 papers (docs/envs.md, "Meta-World"); '
            "per-group numbers are not quoted.",
        ]
    return lines


def bar_plot(
    rows: Sequence[dict[str, Any]], path: Path, title: str = "success per task and instruction split"
) -> Path:
    """Grouped bars: success per task (or any label), one bar per split, Wilson intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    splits = list(dict.fromkeys(r["split"] for r in rows))
    width = 0.8 / len(splits)
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(tasks) + 2), 3.5))
    for j, split in enumerate(splits):
        xs, ys, err = [], [], [[], []]
        for i, task in enumerate(tasks):
            row = next((r for r in rows if r["task"] == task and r["split"] == split), None)
            if row is not None:
                xs.append(i + (j - (len(splits) - 1) / 2) * width)
                ys.append(row["success_rate"])
                err[0].append(max(0.0, row["success_rate"] - row["ci95_low"]))  # rounding can cross p
                err[1].append(max(0.0, row["ci95_high"] - row["success_rate"]))
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=split)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set(ylim=(0, 1.05), ylabel="success rate (95% Wilson CI)", title=title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_video(episode: EpisodeResult, path: Path, fps: int, size: int) -> Path:
    """H.264 mp4 of the episode's frames, upscaled to `size`, instruction and outcome overlaid."""
    import av
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t, frame in enumerate(episode.frames):
            img = cv2.resize(np.ascontiguousarray(frame), (size, size), interpolation=cv2.INTER_NEAREST)
            last = t == len(episode.frames) - 1
            _overlay(
                img, episode.instruction, f"{'success' if episode.success else 'fail'}" if last else f"t={t}"
            )
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _overlay(img: np.ndarray, text: str, corner: str) -> None:
    import cv2

    h, w = img.shape[:2]
    scale = max(0.3, w / 700)
    cv2.rectangle(img, (0, h - int(22 * scale * 2)), (w, h), (0, 0, 0), -1)
    cv2.putText(
        img, text, (4, h - int(12 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    cv2.putText(
        img,
        corner,
        (4, int(20 * scale * 1.5)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 0),
        1,
        cv2.LINE_AA,
    )
