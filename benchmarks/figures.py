"""How each headline figure is worded, from the `figures` a bench script stores in its results file.

One function per fact: the bench scripts format their own tables' shared facts (speed-ups, ratios)
with these too, so a fact reads the same in BENCHMARKS.md, the README and the docs.

FIGURES[section][name](figures) -> the text of `<!-- fig:section.name -->` in a page;
README_ROWS: (section, what, figure, goal) per row of the README's speed table, each a function of
that section's figures.
"""

from collections.abc import Callable

NOT_MEASURED = "not measured"
Fig = Callable[[dict], str]


def speedup(slow: float, fast: float) -> str:
    return f"{slow / fast:.1f}x"


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}"


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _num(x: float | None, fmt: str = ".0f") -> str:
    return NOT_MEASURED if x is None else format(x, fmt)


# ---------------------------------------------------------------- envs
def _envs_speedup(f: dict) -> str:
    return speedup(f["steps_s"], f["shadows_steps_s"])


def _envs_what(f: dict) -> str:
    s = f["image_size"]
    return f"env steps/s, {s}x{s}, 1 camera, single env (shadows + multisampling off; speed-up over on)"


# ---------------------------------------------------------------- data
def _long_speedup(f: dict) -> str:
    return f"{f['long']['baseline_s'] / f['long']['vla_s']:.2f}x"


def _load_speedup(f: dict) -> str:
    return speedup(f["load_samples_s"]["memory_2w"], f["load_samples_s"]["video_2w"])


def _record_what(f: dict) -> str:
    return (
        f"recording {f['env_id']}, {len(f['cameras'])} cameras {f['image_size']} px, h264 with every "
        "frame a keyframe, 1 process"
    )


def _long_what(f: dict) -> str:
    long = f["long"]
    return (
        f"recording {long['episodes']} demo episodes (TouchCube): {long['vla_mb']} MB video files vs "
        f"lerobot's {long['baseline_mb']} MB (rewritten per episode)"
    )


def _long_figure(f: dict) -> str:
    return f"{f['long']['vla_s']:.0f} vs {f['long']['baseline_s']:.0f} s ({_long_speedup(f)})"


def _load_figure(f: dict) -> str:
    load = f["load_samples_s"]
    return f"{load['memory_2w']:.0f} vs {load['video_2w']:.0f} samples/s ({_load_speedup(f)})"


# ---------------------------------------------------------------- model
def _lat(f: dict, tokenizer: str) -> tuple[dict, dict]:
    return f["latency"][f"{tokenizer}/parallel"], f["latency"][f"{tokenizer}/ar"]


def _well_formed(f: dict, tokenizer: str) -> bool:
    return all(r["repairs"] == 0 for r in _lat(f, tokenizer))


def _latency_what(f: dict, tokenizer: str) -> str:
    where = f"{f['cameras']} cameras, chunk {f['chunk']}" if tokenizer == "bins" else "same"
    return f"tiny VLA chunk latency, {where}, {tokenizer} tokens: parallel / KV-cached AR decoder"


def _latency_figure(f: dict, tokenizer: str) -> str:
    par, ar = _lat(f, tokenizer)
    if not _well_formed(f, tokenizer):  # a repaired decode is not what a trained model's latency is
        bad = ", ".join(f"{r['repairs']}/{r['calls']}" for r in (par, ar))
        return f"not shown: decodes malformed and repaired ({bad} calls, parallel / AR)"
    calls = f" (0 repairs in {par['calls']} / {ar['calls']} calls)" if tokenizer != "bins" else ""
    return (
        f"p50 {par['p50_ms']:.1f} / {ar['p50_ms']:.1f} ms, {par['actions_s']:.0f} / {ar['actions_s']:.0f} "
        f"actions/s{calls}"
    )


def _latency_goal(f: dict, tokenizer: str) -> str:
    if not _well_formed(f, tokenizer):
        return "-"
    ok = [
        r["p50_ms"] <= f["goal_p50_ms"] and r["actions_s"] >= f["goal_actions_s"] for r in _lat(f, tokenizer)
    ]
    return (
        f"p50 <= {f['goal_p50_ms']} ms, >= {f['goal_actions_s']} actions/s: "
        f"parallel {_met(ok[0])}, AR {_met(ok[1])}"
    )


def _ar_vs_generate(f: dict) -> str:
    return speedup(f["generate"]["generate_p50_ms"], f["generate"]["ours_p50_ms"])


def _parallel_vs_ar(f: dict) -> str:
    par, ar = _lat(f, "bins")
    return speedup(ar["p50_ms"], par["p50_ms"])


def _generate_figure(f: dict) -> str:
    g = f["generate"]
    return f"{_ar_vs_generate(f)} ({g['ours_p50_ms']:.1f} vs {g['generate_p50_ms']:.1f} ms)"


def _generate_goal(f: dict) -> str:
    ratio = f["generate"]["generate_p50_ms"] / f["generate"]["ours_p50_ms"]
    return f">= {f['goal_generate_speedup']}x: {_met(ratio >= f['goal_generate_speedup'])}"


def _parallel_figure(f: dict) -> str:
    par, ar = _lat(f, "bins")
    return f"{_parallel_vs_ar(f)} (p50 {par['p50_ms']:.1f} vs {ar['p50_ms']:.1f} ms)"


# ---------------------------------------------------------------- bridge
def _p99(f: dict, load: bool, rt: bool) -> list[float | None]:
    """p99 ms per rate (the rows' order), None where not measured."""
    return [r["p99_ms"] for r in f["rows"] if r["load"] == load and r["rt"] == rt]


def _p99_range(f: dict, load: bool, rt: bool) -> str:
    values = _p99(f, load, rt)
    if not values or None in values:
        return NOT_MEASURED
    return f"{min(values):.1f}-{max(values):.1f} ms"


def _bridge_rates(f: dict) -> str:
    return " / ".join(f"{r}" for r in sorted({r["rate_hz"] for r in f["rows"]}))


def _bridge_what(f: dict, load: bool) -> str:
    machine = "one busy process per core" if load else "no added load"
    return (
        f"bridge observation -> command p99 at {_bridge_rates(f)} Hz, {machine}: real-time "
        f"(FIFO {f['rt_priority']}) vs normal priority"
    )


def _bridge_figure(f: dict, load: bool) -> str:
    def side(rt: bool) -> str:
        values = _p99(f, load, rt)
        if rt and not f["rt_permitted"]:
            return "FIFO not permitted here (needs root or an rtprio limit)"
        if all(v is None for v in values):
            return NOT_MEASURED
        return " / ".join(_num(v, ".2f") for v in values) + " ms"

    return f"{side(True)} vs {side(False)}"


def _bridge_goal(f: dict, load: bool) -> str:
    def verdict(rt: bool) -> str:
        values = _p99(f, load, rt)
        if (rt and not f["rt_permitted"]) or not values or None in values:
            return NOT_MEASURED
        return _met(max(values) <= f["goal_p99_ms"])

    return f"p99 <= {f['goal_p99_ms']} ms: real-time {verdict(True)}, normal {verdict(False)}"


# ---------------------------------------------------------------- threads
def _threads_label(f: dict, key: str) -> str:
    n = f["settings"][key]["threads"]
    who = "vla's default" if key == "default" else "torch's default"
    return f"{who} ({n} thread{'s' * (n > 1)})"


def _train_busy_share(key: str) -> Fig:
    return lambda f: f"{f['settings'][key]['train_busy_share']:.0%}"


def _p99_busy_ratio(key: str) -> Fig:
    return lambda f: f"{f['settings'][key]['p99_busy_ratio']:.1f}x"


def _train_figure(f: dict) -> str:
    def one(key: str) -> str:
        s, kept = f["settings"][key], _train_busy_share(key)(f)
        if s["train_quiet"] is None:  # only the share was published
            return f"{kept} of quiet"
        return f"{s['train_quiet']:.2f} -> {s['train_busy']:.2f} ({kept})"

    return f"{one('default')} / {one('torch')}"


def _threads_train_what(f: dict) -> str:
    return (
        "training steps/s (demo model, batch 32), quiet -> beside one busy process: "
        f"{_threads_label(f, 'default')} / {_threads_label(f, 'torch')}"
    )


def _threads_p99_what(f: dict) -> str:
    return (
        "demo policy p99 latency beside one busy process, relative to quiet: "
        f"{_threads_label(f, 'default')} / {_threads_label(f, 'torch')}"
    )


def _demo_latency(f: dict) -> str:
    s = f["settings"]["default"]
    if s["p50_quiet"] is None:
        return NOT_MEASURED
    return f"p50 {s['p50_quiet']:.1f} / p99 {s['p99_quiet']:.1f} ms"


FIGURES: dict[str, dict[str, Fig]] = {
    "envs": {"steps_s": lambda f: f"{f['steps_s']:.0f}", "shadows_speedup": _envs_speedup},
    "data": {
        "record_frames_s": lambda f: f"{f['record_frames_s']['inline']:.0f}",
        "long_episodes": lambda f: f"{f['long']['episodes']}",
        "long_baseline_s": lambda f: f"{f['long']['baseline_s']:.0f}",
        "long_vla_s": lambda f: f"{f['long']['vla_s']:.0f}",
        "long_speedup": _long_speedup,
        "load_memory": lambda f: f"{f['load_samples_s']['memory_2w']:.0f}",
        "load_video": lambda f: f"{f['load_samples_s']['video_2w']:.0f}",
        "load_speedup": _load_speedup,
    },
    "model": {"ar_vs_generate": _ar_vs_generate, "parallel_vs_ar": _parallel_vs_ar},
    "bridge": {
        "p99_idle_rt": lambda f: _p99_range(f, False, True),
        "p99_idle_normal": lambda f: _p99_range(f, False, False),
        "p99_load_rt": lambda f: _p99_range(f, True, True),
        "p99_load_normal": lambda f: _p99_range(f, True, False),
    },
    "threads": {
        "train_busy_share_default": _train_busy_share("default"),
        "train_busy_share_torch": _train_busy_share("torch"),
        "p99_busy_ratio_default": _p99_busy_ratio("default"),
        "p99_busy_ratio_torch": _p99_busy_ratio("torch"),
    },
}

README_ROWS: list[tuple[str, Fig, Fig, Fig]] = [
    (
        "envs",
        _envs_what,
        lambda f: f"{f['steps_s']:.0f} ({_envs_speedup(f)})",
        lambda f: f">= {f['target_steps_s']}: {_met(f['steps_s'] >= f['target_steps_s'])}",
    ),
    ("data", _record_what, lambda f: f"{f['record_frames_s']['inline']:.0f} frames/s", lambda f: "-"),
    ("data", _long_what, _long_figure, lambda f: "-"),
    (
        "data",
        lambda f: "dataset loading, batch 32, 2 workers: in-memory vs `LeRobotDataset` + `DataLoader`",
        _load_figure,
        lambda f: "-",
    ),
    (
        "bridge",
        lambda f: _bridge_what(f, False),
        lambda f: _bridge_figure(f, False),
        lambda f: _bridge_goal(f, False),
    ),
    (
        "bridge",
        lambda f: _bridge_what(f, True),
        lambda f: _bridge_figure(f, True),
        lambda f: _bridge_goal(f, True),
    ),
    *[
        (
            "model",
            lambda f, t=t: _latency_what(f, t),
            lambda f, t=t: _latency_figure(f, t),
            lambda f, t=t: _latency_goal(f, t),
        )
        for t in ("bins", "fast")
    ],
    (
        "model",
        lambda f: (
            f"KV-cached AR decoder vs `model.generate()`, bins (the same {f['generate']['tokens']} tokens)"
        ),
        _generate_figure,
        _generate_goal,
    ),
    (
        "model",
        lambda f: "parallel vs KV-cached AR decoder, bins (different models: different outputs)",
        _parallel_figure,
        lambda f: "-",
    ),
    ("threads", _threads_train_what, _train_figure, lambda f: "-"),
    (
        "threads",
        _threads_p99_what,
        lambda f: f"{_p99_busy_ratio('default')(f)} / {_p99_busy_ratio('torch')(f)}",
        lambda f: "-",
    ),
    (
        "threads",
        lambda f: (
            "demo policy latency (1 camera 96 px, chunk 5, bins, parallel), quiet, vla's default threads"
        ),
        _demo_latency,
        lambda f: "-",
    ),
]
