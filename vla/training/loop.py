"""The training loop: one step = loss, backward, clip, AdamW, schedule, EMA; checkpoints that resume exactly.

Works with any torch module that has `compute_loss(batch) -> (loss, metrics)` and
`save_pretrained(dir)`; `accelerate` places model and batches on the device, handles mixed
precision and shards data across processes, so the same code runs on a laptop CPU and a GPU node.

Exact resume: the data order of epoch e is a function of (seed, e) only (the loader factory is
called with the epoch), the position inside the epoch is saved, and every RNG is restored after
everything has been built, so N steps straight == N/2 steps + resume + N/2 steps.

Time budget (cfg.max_seconds, None = none): training stops after the first step that ends at or past
it (or at cfg.steps, whichever comes first), then saves and evaluates as at the last step. The budget
counts training time only (steps, data, checkpoints; not the sim evaluations), summed over the run's
sessions: elapsed_s is saved with every checkpoint, so a resumed run gets what is left of it, and a run
whose budget is spent resumes to do nothing (raise max_seconds to continue, as steps to extend one).
The learning-rate schedule still follows cfg.steps. Every train record of metrics.jsonl carries
elapsed_s, the training seconds of the run by that step (as the budget counts them, with or without one).
"""

import copy
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast, gather_object

from vla import checkpoint as ckpt
from vla.logging_utils import RunLogger, progress
from vla.model.qa import QA_BATCH
from vla.training import fsdp
from vla.training.optim import EMA, make_optimizer, make_scheduler

LoaderFactory = Callable[[int], Any]  # epoch -> an iterable of batches (a DataLoader), seeded by the epoch
EvalFn = Callable[[Any, int], Mapping[str, float]]  # (policy, step) -> metrics

log = logging.getLogger(__name__)


@dataclass
class Trainer:
    cfg: Mapping[str, Any]  # the `train` config group
    accelerator: Accelerator
    policy: torch.nn.Module
    make_loader: LoaderFactory
    run_dir: Path
    config_yaml: str  # the resolved run config, stored in every checkpoint
    logger: RunLogger | None = None  # None on non-main processes
    evaluate: EvalFn | None = None
    # co-training (vla/training/cotrain.py): step -> the QA samples added to that step's batch; None: none
    qa_batches: Callable[[int], Mapping[str, Any]] | None = None
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # data position: batches of `epoch` already consumed
    elapsed_s: float = 0.0  # training seconds of the run so far, all sessions (what the time budget counts)
    history: list[float] = field(default_factory=list)  # loss per step (tests compare curves)
    # the loader's batch size per process (None: it has none fixed); what save() records with the position
    _batch_size: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # FSDP shards self.policy in place: the main process keeps a plain copy to save and evaluate
        # (vla/training/fsdp.py); None without FSDP, where self.policy itself is saved and evaluated
        self._replica: torch.nn.Module | None = None
        sharded = fsdp.is_fsdp(self.accelerator)
        if sharded:
            fsdp.check_supported(self.accelerator, self.cfg)
            if self.accelerator.is_main_process:
                self._replica = copy.deepcopy(self.policy).cpu()
        self.optimizer = make_optimizer(self.policy, self.cfg)
        self.scheduler = make_scheduler(self.optimizer, self.cfg, lambda: self.elapsed_s)
        self.ema = (
            EMA(self.policy, self.cfg["ema"]["decay"], self.cfg["ema"]["start_step"])
            if self.cfg["ema"]["enabled"]
            else None
        )
        # DDP syncs gradients in forward(); the policy's entry point is compute_loss, so wrap it
        loss_module = _LossModule(self.policy)
        if sharded:  # what accelerate's transformer wrap policy reads: the layers to shard one by one
            loss_module._no_split_modules = fsdp.no_split_modules(self.policy)
        self.model, self.optimizer = self.accelerator.prepare(loss_module, self.optimizer)
        if sharded and self.accelerator.is_main_process:
            log.info(fsdp.describe(self.model, self.accelerator.num_processes))

    # ------------------------------------------------------------------------------------ resume
    def resume(self, path: str | Path) -> None:
        """Restores optimiser, scheduler, EMA, RNG and data position from a checkpoint.

        The policy must already hold the checkpoint's pretrained/ weights (build it with
        from_pretrained); with EMA those are the EMA weights and the raw ones are loaded here.
        """
        directory = ckpt.resolve_checkpoint(path)
        raw = ckpt.load_raw_model_state(directory)
        if self.ema is not None:
            if raw is None:
                raise ValueError(f"{directory} was saved without EMA; resume it with train.ema.enabled=false")
            self.ema.load_state_dict(self.policy.state_dict())
            self.policy.load_state_dict(raw)
        sharded = fsdp.is_fsdp(self.accelerator)  # each process takes its shard of the full saved state
        state = ckpt.load_training_state(
            directory,
            None if sharded else self.optimizer,
            self.scheduler,
            rank=self.accelerator.process_index,
        )
        if sharded:
            fsdp.load_optimizer_state(self.model, self.optimizer, ckpt.read_optimizer_state(directory))
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch = self._position_in_these_batches(state, ckpt.saved_process_count(directory))
        self.elapsed_s = float(state.get("elapsed_s", 0.0))  # checkpoints from before the time budget: 0
        if self.logger is not None:
            self.logger.truncate_after(self.step)

    def _position_in_these_batches(self, state: Mapping[str, Any], saved_processes: int) -> int:
        """The saved data position in this session's steps, which may differ from the saving run's.

        N processes taking batches of b consume N x b samples of the epoch's order per step (process i
        takes every N-th batch), so the position is batch_in_epoch x N x b samples, whatever N and b:
        M processes of b' continue at that sample, exactly when it divides by M x b'; otherwise they
        start at the step boundary before it and see the rest of that step's samples again.
        """
        n_saved = int(state.get("num_processes") or saved_processes)  # state.json before N->M: the RNG files
        now_b = getattr(self.make_loader(self.epoch), "batch_size", None)  # the factory only reseeds
        b_saved = state.get("batch_size") or now_b  # older checkpoints: the batch size is taken as unchanged
        n_now = self.accelerator.num_processes
        if (n_saved, b_saved) == (n_now, now_b) or now_b is None or b_saved is None:
            return int(state["batch_in_epoch"])
        samples = int(state["batch_in_epoch"]) * n_saved * int(b_saved)
        position, rest = divmod(samples, n_now * now_b)
        log.info(
            "resuming a checkpoint of %d process(es) x batch %d on %d x %d: global batch %d (was %d); "
            "epoch %d continues at sample %d", n_saved, b_saved, n_now, now_b, n_now * now_b,
            n_saved * b_saved, self.epoch, samples - rest,
        )  # fmt: skip
        if rest:
            log.warning(
                "the saved data position (%d samples into epoch %d) is not a multiple of this global batch "
                "(%d): the last %d samples before it are seen again",
                samples, self.epoch, n_now * now_b, rest,
            )  # fmt: skip
        return position

    # -------------------------------------------------------------------------------------- data
    def _batches(self) -> Iterator[Any]:
        """Endless batches from the saved position on; epoch e's order depends only on (seed, e)."""
        while True:
            base = self.make_loader(self.epoch)
            self._batch_size = getattr(base, "batch_size", None)  # per process; save() records it
            loader = self.accelerator.prepare_data_loader(base)
            if self.batch_in_epoch:
                loader = self.accelerator.skip_first_batches(loader, self.batch_in_epoch)
            for batch in loader:
                self.batch_in_epoch += 1
                yield batch
            if self.batch_in_epoch == 0:
                raise ValueError(
                    "the data loader produced no batch: is the dataset empty or batch_size too big?"
                )
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    # -------------------------------------------------------------------------------------- loop
    def fit(self, until: int | None = None) -> None:
        """Trains to cfg.steps or the time budget (module doc), or stops after step `until`, as a kill
        would, for resume tests."""
        total, main = int(self.cfg["steps"]), self.accelerator.is_main_process
        stop = total if until is None else min(until, total)
        if self.step < stop and self._out_of_time():
            log.warning(self._budget_note("the time budget is spent: nothing to train"))
            return
        bar = progress(total, initial=self.step, disable=not main)
        batches = self._batches()
        t0 = t_log = time.perf_counter()
        spent0, eval_s = self.elapsed_s, 0.0
        while self.step < stop:
            metrics = self.train_step(self._with_qa(next(batches)))
            self.step += 1
            self.elapsed_s = spent0 + time.perf_counter() - t0 - eval_s
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)
            bar.update(1)
            out_of_time = self._out_of_time()
            last = self.step == total or out_of_time
            if self.step % self.cfg["log_every"] == 0 or last:
                metrics["steps_per_s"] = self.cfg["log_every"] / max(time.perf_counter() - t_log, 1e-9)
                t_log = time.perf_counter()
                self._log(metrics)
            if self.step % self.cfg["save_every"] == 0 or last:
                self.save()
            every = self.cfg["eval_every"]
            if (every and self.step % every == 0) or (last and self.cfg["eval_at_end"]):
                t_eval = time.perf_counter()
                self.run_evaluation()
                eval_s += time.perf_counter() - t_eval
            if out_of_time:
                log.info(self._budget_note(f"stopped at step {self.step} of {total}"))
                break
        bar.close()

    def _with_qa(self, batch: Mapping[str, Any]) -> Mapping[str, Any]:
        """The step's batch, plus its QA samples when co-training (drawn from the step number alone, so
        a resumed run draws the same ones)."""
        if self.qa_batches is None:
            return batch
        return {**batch, QA_BATCH: self.qa_batches(self.step)}

    def _out_of_time(self) -> bool:
        """Whether the time budget is spent; every process takes the main process's answer (DDP steps
        must stay in lockstep)."""
        budget = self.cfg.get("max_seconds")
        if budget is None:
            return False
        flag = torch.tensor([float(self.elapsed_s >= budget)], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            flag = broadcast(flag, from_process=0)
        return bool(flag.item())

    def _budget_note(self, what: str) -> str:
        budget = self.cfg["max_seconds"]
        return f"{what}: train.max_seconds={budget} reached ({self.elapsed_s:.1f} s of training)"

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        self.model.train()
        with self.accelerator.autocast():
            loss, metrics = self.model(batch)  # the policy's compute_loss, through DDP when multi-process
        self.accelerator.backward(loss)
        clip = self.cfg["grad_clip_norm"]
        grad_norm = self.accelerator.clip_grad_norm_(
            self.model.parameters(), clip if clip > 0 else float("inf")
        )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.policy, self.step)
        self.history.append(loss.item())
        lr = self.scheduler.get_last_lr()[0]
        return {**metrics, "loss": loss.item(), "grad_norm": float(grad_norm), "lr": lr}

    def _log(self, metrics: Mapping[str, float]) -> None:
        if self.logger is not None:
            self.logger.log(self.step, {**metrics, "epoch": self.epoch, "elapsed_s": self.elapsed_s})

    # -------------------------------------------------------------------------------- checkpoint
    def save(self) -> Path | None:
        self.accelerator.wait_for_everyone()
        state = {
            "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "elapsed_s": self.elapsed_s,
            # what batch_in_epoch counts in: a resume on another number of processes rescales it
            "num_processes": self.accelerator.num_processes, "batch_size": self._batch_size,
        }  # fmt: skip
        rng_states = gather_object([ckpt.capture_rng_state()])  # one per process, in rank order
        policy, optimizer_state = self._deployable(with_optimizer=True)  # every process: FSDP gathers
        path = None
        if self.accelerator.is_main_process:
            raw = dict(self.policy.state_dict()) if self.ema is not None else None
            path = ckpt.save_checkpoint(
                self.run_dir, self.step, save_pretrained=lambda d: self._save_pretrained(policy, d),
                config_yaml=self.config_yaml, optimizer_state=optimizer_state, scheduler=self.scheduler,
                state=state, raw_model_state=raw, keep_last=self.cfg["keep_last"], rng_states=rng_states,
            )  # fmt: skip
        self.accelerator.wait_for_everyone()
        return path

    def _deployable(self, with_optimizer: bool = False) -> tuple[Any, Mapping[str, Any] | None]:
        """(the policy to save and evaluate, the optimizer's state) on the main process. Under FSDP every
        process must call it: the shards are gathered into the main process's replica."""
        if not fsdp.is_fsdp(self.accelerator):
            main = self.accelerator.is_main_process
            return self.policy, self.optimizer.state_dict() if with_optimizer and main else None
        weights, optimizer_state = fsdp.gather_full_state(self.model, self.optimizer, with_optimizer)
        if self._replica is not None:
            fsdp.load_into_replica(self._replica, weights, prefix="policy.")
        return self._replica, optimizer_state

    def _save_pretrained(self, policy: Any, directory: Path) -> None:
        if self.ema is None:
            policy.save_pretrained(directory)
            return
        with self.ema.applied(policy):
            policy.save_pretrained(directory)

    def run_evaluation(self) -> Mapping[str, float]:
        """Sim evaluation with the deployable weights; never disturbs the training RNG streams. Every
        process calls it (FSDP gathers the weights); the main process evaluates."""
        policy, _ = self._deployable()
        if self.evaluate is None:
            return {}
        if self._replica is not None:  # FSDP: the replica waits on the CPU between evaluations
            policy.to(self.accelerator.device)
        policy.eval()
        try:
            with _preserved_rng():
                if self.ema is not None:
                    with self.ema.applied(policy):
                        metrics = self.evaluate(policy, self.step)
                else:
                    metrics = self.evaluate(policy, self.step)
        finally:
            if self._replica is not None:
                policy.cpu()
        if self.logger is not None:
            self.logger.log(self.step, metrics, split="eval")
        # success rates as percentages; offline metrics (env=none: action MSE, token accuracy) as numbers
        shown = ", ".join(f"{k} {v:.0%}" if "success" in k else f"{k} {v:.4g}" for k, v in metrics.items())
        kind = "sim" if any("success" in k for k in metrics) else "offline"
        where = ckpt.step_dir_name(self.step)
        log.info("step %d %s eval: %s (eval/%s/report.md)", self.step, kind, shown, where)
        return metrics


class _LossModule(torch.nn.Module):
    """forward(batch) = policy.compute_loss(batch): what DDP needs to sync gradients (same weights)."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.policy.compute_loss(batch)


class _preserved_rng:  # noqa: N801 (used as a context manager)
    def __enter__(self) -> None:
        self.states = (torch.get_rng_state(), np.random.get_state(), random.getstate())

    def __exit__(self, *exc: object) -> None:
        torch.set_rng_state(self.states[0])
        np.random.set_state(self.states[1])
        random.setstate(self.states[2])
