"""Model benchmark: the tiny VLA on this CPU (writes the `model` section of BENCHMARKS.md).

- chunk latency p50/p99 and effective actions/s (executed actions per second of inference) for every
  decoder x tokenizer, batch 1, from an observation dict to unnormalised actions;
- tokens per chunk, bins vs fast, on smooth synthetic joint trajectories;
- our greedy constrained decoders vs transformers' model.generate() on the same model and prompt;
- training samples/s at batch 32 (forward + backward + AdamW step).

Data: synthetic batches in the data contract's layout (random images, smooth sinusoidal actions). The
fast tokenizer is fitted on such chunks and each policy is first trained for a few steps on them, so
variable-length decoding stops where a trained model would. Run: `python -m benchmarks.bench_model`.
"""

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import markdown_table, write_section
from policies.vla.policy import VLAPolicy, fake_observation, observation_to_batch
from vla.data.normalize import compute_stats

CAMERAS = ("front", "wrist")  # the default; --cameras front measures the demo preset
DIM = 6


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


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=40, help="latency repetitions per configuration")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the CI machine has 2 shared cores)"
    )
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--cameras", nargs="+", default=list(CAMERAS), help="e.g. --cameras front (demo)")
    parser.add_argument("--train-steps", type=int, default=12, help="steps at batch 32 for samples/s")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("vla.model.tokenizers.base").setLevel(
        logging.ERROR
    )  # failures are counted in the table
    cameras = tuple(args.cameras)
    obs = fake_observation(cameras, image_size=args.image_size, state_dim=DIM)
    lat_rows, tok_rows, gen_rows, train_rows = [], [], [], []
    for tokenizer in ("bins", "fast"):
        for decoder in ("parallel", "ar"):
            policy = build(tokenizer, decoder, args.chunk, args.image_size, cameras)
            sps = train(policy, args.train_steps, 32, args.image_size)
            train(
                policy, 40, 8, args.image_size
            )  # a little more so variable-length decoding ends like a trained model
            train_rows.append([tokenizer, decoder, f"{sps:.1f}"])
            lat = timed(lambda p=policy: p.predict_action_chunk(obs), args.reps)
            steps = policy.cfg.n_action_steps
            lat_rows.append(
                [
                    tokenizer,
                    decoder,
                    f"{pct(lat, 50):.1f}",
                    f"{pct(lat, 99):.1f}",
                    f"{steps / statistics.median(lat):.0f}",
                    f"{policy.decode_failures}/{args.reps + 1}",
                ]
            )
            if tokenizer == "bins":
                gen_rows.append(compare_generate(policy, obs, decoder, args.reps // 4 or 1))
        if tokenizer == "fast":
            tok_rows = token_rows(policy, args.chunk)
    body = "\n\n".join(
        [
            f"Tiny VLA (SmolVLM architecture, random init + a few synthetic steps), {len(cameras)} camera(s) "
            f"at {args.image_size} px, 6-D state and actions, chunk {args.chunk}, batch 1, "
            f"torch threads: {args.threads}. "
            "Effective actions/s = actions executed per chunk (n_action_steps = chunk) / p50 latency.",
            "### Chunk latency\n\n"
            + markdown_table(
                ["tokenizer", "decoder", "p50 ms", "p99 ms", "effective actions/s", "malformed (repaired)"],
                lat_rows,
            ),
            "### Tokens per chunk (smooth synthetic trajectories, 200 chunks)\n\n"
            + markdown_table(["tokenizer", "mean", "max", "compression vs bins"], tok_rows),
            "### Our decoding vs `model.generate()` (same model, prompt, greedy, constrained to action "
            "tokens, "
            f"bins: {args.chunk * DIM} tokens)\n\n"
            + markdown_table(
                ["ours", "ours p50 ms", "generate() p50 ms", "speed-up (generate / ours)", "same tokens"],
                gen_rows,
            ),
            "### Training throughput (batch 32, forward + backward + AdamW)\n\n"
            + markdown_table(["tokenizer", "decoder", "samples/s"], train_rows),
        ]
    )
    command = "python -m benchmarks.bench_model" + (" " + " ".join(argv) if argv else "")
    if args.no_write:
        print(body)
    else:
        preset = (
            "" if cameras == CAMERAS and args.chunk == 10 else f" ({'+'.join(cameras)}, chunk {args.chunk})"
        )
        name = "model" if not preset else f"model_{'_'.join(cameras)}_chunk{args.chunk}"
        write_section(
            name, f"Model: tiny VLA latency, tokens per chunk, decoding, training{preset}", command, body
        )


@torch.no_grad()
def compare_generate(policy: VLAPolicy, obs: dict, decoder: str, reps: int) -> list[object]:
    model = policy.model
    batch = policy._model_batch(observation_to_batch(obs, policy.cfg.cameras))
    ids, mask, pixels = model.build_prompt(batch["images"], batch["state"], batch["task"])
    decode = model._decode_parallel if decoder == "parallel" else model._decode_ar
    ours = timed(lambda: decode(ids, mask, pixels), reps * 4)
    theirs = timed(lambda: model.generate_baseline(batch), reps)
    same = torch.equal(model.action_ids[decode(ids, mask, pixels)], model.generate_baseline(batch))
    ratio = statistics.median(theirs) / statistics.median(ours)
    return [
        decoder,
        f"{pct(ours, 50):.1f}",
        f"{pct(theirs, 50):.1f}",
        f"{ratio:.1f}x",
        same if decoder == "ar" else "n/a",
    ]


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
