"""Model benchmark: the tiny VLA on this CPU (writes the `model` results and BENCHMARKS.md section).

- chunk latency p50/p99 and effective actions/s (executed actions per second of inference) for every
  decoder x tokenizer, batch 1, from an observation dict to unnormalised actions, on a policy trained
  until its decodes are well formed (malformed decodes are counted; a latency with repairs is not shown);
- tokens per chunk, bins vs fast, on smooth synthetic joint trajectories;
- the KV-cached AR decoder vs transformers' model.generate(): same model, prompt and tokens (asserted);
- the parallel decoder vs the AR one: different models with different outputs, from the latency table;
- training samples/s at batch 32 (forward + backward + AdamW step).

Data: synthetic observations in the data contract's layout (random uint8 images, smooth sinusoidal
actions). The fast tokenizer is fitted on such chunks. Each policy is trained on a few observations
until it decodes all of them well formed, and its latency is measured on those observations, so
variable-length decoding stops where a trained model's would.

    python -m benchmarks.bench_model [--reps 40] [--no-write]
    python -m benchmarks.bench_model --reps 3 --train-steps 3 --fit-steps 40 --no-write   # smoke test
"""

import argparse
import itertools
import logging
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures import FIGURES
from policies.vla.policy import VLAPolicy, fake_observation, observation_to_batch
from vla.data.normalize import compute_stats

CAMERAS = ("front", "wrist")  # the default; --cameras front measures the demo preset
DIM = 6
GOAL_P50_MS, GOAL_ACTIONS_S = 25, 200  # chunk latency goals (batch 1)
GOAL_GENERATE_SPEEDUP = 3  # our KV-cached decoding vs generate()
CHECK_EVERY = 40  # training steps between checks that the decodes are well formed


def smooth_chunks(n: int, chunk: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(chunk)[None, :, None] / 10.0
    shape = (n, 1, DIM)
    freq, phase, amp = (
        rng.uniform(0.1, 0.6, shape),
        rng.uniform(0, 2 * np.pi, shape),
        rng.uniform(0.2, 1.0, shape),
    )
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def synthetic_batch(
    batch_size: int, chunk: int, image_size: int, seed: int, cameras: tuple[str, ...] = CAMERAS
) -> dict:
    gen = torch.Generator().manual_seed(seed)
    actions = torch.from_numpy(smooth_chunks(batch_size, chunk, seed))
    batch = {
        f"observation.images.{c}": torch.rand(batch_size, 3, image_size, image_size, generator=gen)
        for c in cameras
    }
    batch.update(
        {"observation.state": actions[:, 0], "action": actions, "task": ["pick up the red cube"] * batch_size}
    )
    batch["action_is_pad"] = torch.zeros(batch_size, chunk, dtype=torch.bool)
    return batch


def build(tokenizer: str, decoder: str, chunk: int, image_size: int, cameras: tuple[str, ...]) -> VLAPolicy:
    torch.manual_seed(0)
    flat = smooth_chunks(4000, chunk, seed=1).reshape(-1, DIM)
    stats = {"observation.state": compute_stats(flat), "action": compute_stats(flat)}
    cfg = {
        "tokenizer": {"type": tokenizer},
        "decoder": decoder,
        "chunk_size": chunk,
        "n_action_steps": chunk,
        "backbone": {"image_size": image_size},
    }
    return VLAPolicy.from_config(
        cfg, stats, cameras, DIM, DIM, action_chunks=smooth_chunks(4000, chunk, seed=2)
    )


def train(policy: VLAPolicy, steps: int, batch_size: int, image_size: int) -> float:
    """Trains `steps` steps; returns samples/s over all but the first two (warm-up) steps."""
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    policy.train()
    start = 0.0
    for i in range(steps):
        if i == 2:
            start = time.perf_counter()
        loss, _ = policy.compute_loss(
            synthetic_batch(batch_size, policy.cfg.chunk_size, image_size, i % 4, policy.cfg.cameras)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    return (steps - 2) * batch_size / (time.perf_counter() - start)


def timed(fn: Callable[[], object], reps: int, warm_up: bool = True) -> list[float]:
    if warm_up:
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def eval_set(n: int, chunk: int, image_size: int, cameras: tuple[str, ...]) -> tuple[list[dict], dict]:
    """`n` observations as a camera gives them (uint8) and the training batch of exactly those."""
    actions = torch.from_numpy(smooth_chunks(n, chunk, seed=5))  # (n, T, D)
    obs = []
    for i in range(n):
        o = fake_observation(cameras, image_size=image_size, state_dim=DIM, seed=100 + i)
        o["observation.state"] = actions[i, 0].numpy()
        obs.append(o)
    rows = [observation_to_batch(o, cameras) for o in obs]
    batch = {k: torch.cat([r[k] for r in rows]) for k in rows[0] if k != "task"}
    batch["task"] = [o["task"] for o in obs]
    batch["action"] = actions
    batch["action_is_pad"] = torch.zeros(n, chunk, dtype=torch.bool)
    return obs, batch


def fit(policy: VLAPolicy, batch: dict, obs: list[dict], max_steps: int) -> int:
    """Trains on `batch` until every observation of it decodes well formed, checked every CHECK_EVERY
    steps (at most `max_steps`); returns the steps trained."""
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    steps = 0
    while steps < max_steps:
        policy.train()
        for _ in range(min(CHECK_EVERY, max_steps - steps)):
            loss, _ = policy.compute_loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
        policy.eval()
        before = policy.decode_failures
        for o in obs:
            policy.predict_action_chunk(o)
        if policy.decode_failures == before:
            break
    return steps


def latency(policy: VLAPolicy, obs: list[dict], reps: int) -> dict:
    """p50/p99 ms and actions/s over `reps` calls cycling through `obs` (after one warm-up call), and the
    malformed (repaired) decodes among those calls."""
    policy.predict_action_chunk(obs[0])  # warm-up
    before, cycle = policy.decode_failures, itertools.cycle(obs)
    lat = timed(lambda: policy.predict_action_chunk(next(cycle)), reps, warm_up=False)
    return {
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "actions_s": policy.cfg.n_action_steps / statistics.median(lat),
        "calls": reps,
        "repairs": policy.decode_failures - before,
    }


def _latency_rows(figures: dict) -> list[list[object]]:
    rows = []
    for key, r in figures["latency"].items():
        tokenizer, decoder = key.split("/")
        shown = r["repairs"] == 0  # a repaired decode is not a trained model's latency
        cells = [f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['actions_s']:.0f}"] if shown else ["-"] * 3
        rows.append([tokenizer, decoder, r["train_steps"], *cells, f"{r['repairs']}/{r['calls']}"])
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=40, help="latency calls per configuration")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the CI machine has 2 shared cores)"
    )
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--cameras", nargs="+", default=list(CAMERAS), help="e.g. --cameras front (demo)")
    parser.add_argument("--train-steps", type=int, default=12, help="steps at batch 32 for samples/s")
    parser.add_argument("--observations", type=int, default=8, help="observations trained on and timed")
    parser.add_argument(
        "--fit-steps", type=int, default=400, help="most training steps for well-formed decodes"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("vla.model.tokenizers.base").setLevel(logging.ERROR)  # repairs are counted
    cameras = tuple(args.cameras)
    obs, batch = eval_set(args.observations, args.chunk, args.image_size, cameras)
    figures: dict = {
        "cameras": len(cameras),
        "image_size": args.image_size,
        "chunk": args.chunk,
        "threads": args.threads,
        "goal_p50_ms": GOAL_P50_MS,
        "goal_actions_s": GOAL_ACTIONS_S,
        "goal_generate_speedup": GOAL_GENERATE_SPEEDUP,
        "latency": {},
        "train_samples_s": {},
    }
    for tokenizer in ("bins", "fast"):
        for decoder in ("parallel", "ar"):
            key = f"{tokenizer}/{decoder}"
            policy = build(tokenizer, decoder, args.chunk, args.image_size, cameras)
            figures["train_samples_s"][key] = train(policy, args.train_steps, 32, args.image_size)
            steps = fit(policy, batch, obs, args.fit_steps)
            figures["latency"][key] = {**latency(policy, obs, args.reps), "train_steps": steps}
            print(key, figures["latency"][key], flush=True)
            if key == "bins/ar":
                figures["generate"] = compare_generate(policy, obs[0], max(1, args.reps // 2))
        if tokenizer == "fast":
            tok_rows = token_rows(policy, args.chunk)
    body = _body(args, figures, tok_rows)
    preset = "" if cameras == CAMERAS and args.chunk == 10 else f" ({'+'.join(cameras)}, chunk {args.chunk})"
    name = "model" if not preset else f"model_{'_'.join(cameras)}_chunk{args.chunk}"
    title = f"Model: tiny VLA latency, tokens per chunk, decoding, training{preset}"
    write_section(name, title, command_line("bench_model", argv), body, figures, dry_run=args.no_write)
    return figures


def _body(args: argparse.Namespace, figures: dict, tok_rows: list[list[object]]) -> str:
    gen, (par, ar) = figures["generate"], (figures["latency"]["bins/parallel"], figures["latency"]["bins/ar"])
    return "\n\n".join(
        [
            f"Tiny VLA (SmolVLM architecture, random init), {figures['cameras']} camera(s) at "
            f"{args.image_size} px, 6-D state and actions, chunk {args.chunk}, batch 1, torch threads: "
            f"{args.threads}. Each policy is trained on {args.observations} synthetic observations until "
            f"it decodes every one of them well formed (checked every {CHECK_EVERY} steps, at most "
            f"{args.fit_steps}); the latency calls cycle through those observations. Effective actions/s = "
            "actions executed per chunk (n_action_steps = chunk) / p50 latency. A configuration whose "
            "measured calls needed a repaired (malformed) decode shows no latency: that would not be a "
            "trained model's.",
            "### Chunk latency\n\n"
            + markdown_table(
                [
                    "tokenizer",
                    "decoder",
                    "training steps",
                    "p50 ms",
                    "p99 ms",
                    "effective actions/s",
                    "malformed (repaired) / calls",
                ],
                _latency_rows(figures),
            ),
            "### Tokens per chunk (smooth synthetic trajectories, 200 chunks)\n\n"
            + markdown_table(["tokenizer", "mean", "max", "compression vs bins"], tok_rows),
            "### KV-cached AR decoder vs `model.generate()`\n\n"
            f"Same model (bins, AR), prompt and greedy decoding constrained to action tokens, "
            f"{gen['tokens']} tokens; both timed from the prompt's tokens and pixels to the action tokens; "
            "the tokens are asserted equal.\n\n"
            + markdown_table(
                ["ours p50 ms", "generate() p50 ms", "speed-up (generate / ours)", "same tokens"],
                [
                    [
                        f"{gen['ours_p50_ms']:.1f}",
                        f"{gen['generate_p50_ms']:.1f}",
                        FIGURES["model"]["ar_vs_generate"](figures),
                        gen["same_tokens"],
                    ]
                ],
            ),
            "### Parallel decoder vs KV-cached AR decoder (bins)\n\n"
            "Different models with different outputs: the parallel decoder is trained to predict every "
            "action token in one forward pass (query tokens), the AR one token by token. p50 from the chunk "
            "latency table.\n\n"
            + markdown_table(
                ["AR p50 ms", "parallel p50 ms", "speed-up (AR / parallel)"],
                [
                    [
                        f"{ar['p50_ms']:.1f}",
                        f"{par['p50_ms']:.1f}",
                        FIGURES["model"]["parallel_vs_ar"](figures),
                    ]
                ],
            ),
            "### Training throughput (batch 32, forward + backward + AdamW)\n\n"
            + markdown_table(
                ["tokenizer", "decoder", "samples/s"],
                [[*k.split("/"), f"{v:.1f}"] for k, v in figures["train_samples_s"].items()],
            ),
        ]
    )


@torch.no_grad()
def compare_generate(policy: VLAPolicy, obs: dict, reps: int) -> dict:
    """Our KV-cached AR decoder vs generate() on the same model and prompt; the tokens must be equal."""
    model = policy.model
    batch = policy._model_batch(observation_to_batch(obs, policy.cfg.cameras))

    def ours() -> torch.Tensor:
        return model.action_ids[
            model._decode_ar(*model.build_prompt(batch["images"], batch.get("state"), batch["task"]))
        ]

    same = torch.equal(ours(), model.generate_baseline(batch))
    if not same:  # then the speed-up would compare different work
        raise AssertionError("the KV-cached AR decoder and generate() gave different tokens")
    ours_s = timed(ours, reps)
    theirs_s = timed(lambda: model.generate_baseline(batch), reps)
    return {
        "ours_p50_ms": pct(ours_s, 50),
        "generate_p50_ms": pct(theirs_s, 50),
        "tokens": model.act_tok.max_tokens,
        "same_tokens": same,
    }


def token_rows(fast_policy: VLAPolicy, chunk: int) -> list[list[object]]:
    tok = fast_policy.model.act_tok
    chunks = fast_policy.normalizer.normalize("action", smooth_chunks(200, chunk, seed=3))
    counts = tok.token_counts(np.clip(chunks, -1, 1))
    bins = chunk * DIM
    return [
        ["bins", bins, bins, "1.0x"],
        ["fast", f"{counts.mean():.1f}", int(counts.max()), f"{bins / counts.mean():.1f}x"],
    ]


if __name__ == "__main__":
    main()
