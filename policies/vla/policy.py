"""VLAPolicy: the VLA model + action tokenizer + normaliser + action queue (optional temporal ensembling).

policy = VLAPolicy.from_config(cfg.policy, stats, cameras=["front", "wrist"], state_dim=6, action_dim=6)
loss, metrics = policy.compute_loss(batch)           # raw batch from vla.data.dataset.make_dataloader
policy.save_pretrained("outputs/ckpt")               # safetensors + YAML, written atomically
policy = VLAPolicy.from_pretrained("outputs/ckpt")   # no pickle, no code execution

With LoRA over a frozen pretrained backbone (backbone.lora_rank > 0, freeze_lm, pretrained set) a
checkpoint holds only the trainable tensors (adapter.safetensors: adapters, new-token rows,
connector) and reloads the frozen rest from backbone.pretrained; `vla export --merge` writes a
full-weights copy (vla/model/adapters.py).
action = policy.select_action(obs)                   # obs: policies.base.Observation
"""

import logging
import os
import shutil
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from policies.base import Observation, Policy
from policies.vla.config import VLAConfig
from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK, image_key
from vla.data.normalize import Normalizer
from vla.model import adapters, qa
from vla.model.backbone import load_backbone
from vla.model.qa import ANSWER, QA_BATCH, QUESTION
from vla.model.tokenizers import ActionTokenizer, make_action_tokenizer
from vla.model.vla import VLAModel

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
TARGET = "policies.vla.policy.VLAPolicy"
# a checkpoint naming anything else is refused; the second name is this class before the move to
# policies/vla/ (checkpoints written then load unchanged)
ALLOWED_TARGETS = frozenset({TARGET, "policies.vla_policy.VLAPolicy"})
WEIGHTS, ADAPTER = "model.safetensors", "adapter.safetensors"  # full weights, or trainable tensors only


class VLAPolicy(nn.Module, Policy):
    def __init__(self, cfg: VLAConfig, model: VLAModel, normalizer: Normalizer):
        nn.Module.__init__(self)
        Policy.__init__(self)
        self.cfg = cfg
        self.model = model
        self.normalizer = normalizer
        self.n_action_steps = cfg.n_action_steps
        self.fps = cfg.fps
        self._ensemble: deque[list[Any]] = deque()  # [chunk (T, D), age] pairs, oldest first

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        cfg: Any,
        stats: Mapping[str, Mapping[str, Any]],
        cameras: Iterable[str],
        state_dim: int,
        action_dim: int,
        action_chunks: np.ndarray | None = None,
        fps: int | None = None,
    ) -> "VLAPolicy":
        """A fresh policy. cfg: conf/policy/vla.yaml node (or dict); stats: vla.data.dataset.load_stats(root);
        action_chunks: raw (N, T, D) chunks, needed only to fit the fast tokenizer (collect_action_chunks);
        fps: the dataset's rate, saved with the policy so `vla deploy` runs it at that rate."""
        plain = VLAConfig.from_dict(cfg).to_dict()
        plain.update(cameras=list(cameras), state_dim=int(state_dim), action_dim=int(action_dim))
        if fps is not None:
            plain.update(fps=int(fps))
        vcfg = VLAConfig.from_dict(plain)
        if not vcfg.cameras:
            raise ValueError("VLAPolicy needs at least one camera (dataset_features(root) lists them)")
        normalizer = _make_normalizer(vcfg, stats)
        act_tok = _make_tokenizer(vcfg)
        if not act_tok.fixed_length:
            if action_chunks is None:
                raise ValueError(
                    "tokenizer.type=fast must be fitted on data: "
                    "pass action_chunks=collect_action_chunks(dataloader)"
                )
            act_tok.fit(np.asarray(normalizer.normalize(ACTION, np.asarray(action_chunks, np.float32))))
        backbone = load_backbone(vcfg.backbone)
        model = VLAModel(vcfg, backbone, act_tok)
        backbone.configure_training()
        return cls(vcfg, model, normalizer)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> "VLAPolicy":
        """Loads a save_pretrained folder: YAML + safetensors only (never pickle, never remote code)."""
        path = Path(path)
        if not (path / "config.yaml").exists():
            raise FileNotFoundError(
                f"{path} is not a VLA checkpoint (no config.yaml); train one with `vla train`"
            )
        meta = yaml.safe_load((path / "config.yaml").read_text())
        if meta.get("_target_") not in ALLOWED_TARGETS:
            raise ValueError(
                f"{path}/config.yaml: _target_ {meta.get('_target_')!r} is not in {sorted(ALLOWED_TARGETS)}"
            )
        vcfg = VLAConfig.from_dict(meta["policy"])
        act_tok = _make_tokenizer(vcfg)
        if not act_tok.fixed_length:
            act_tok.load(path / "action_tokenizer")
        adapter = path / ADAPTER  # if there, the frozen weights are backbone.pretrained's, as trained on
        backbone = load_backbone(vcfg.backbone, path / "backbone", base_weights=adapter.exists())
        model = VLAModel(vcfg, backbone, act_tok)
        backbone.configure_training()
        if adapter.exists():
            adapters.load_trainable_state(model, load_file(str(adapter)), str(adapter))
        else:
            missing, unexpected = load_model(model, str(path / WEIGHTS), strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"{path}/{WEIGHTS} does not match the config: missing {missing[:5]}, "
                    f"unexpected {unexpected[:5]}"
                )
        normalizer = Normalizer.from_state_dict(load_file(str(path / "normalizer.safetensors")), _modes(vcfg))
        return cls(vcfg, model, normalizer).to(device).eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Writes a temporary folder, then renames it into place (a crash never leaves half a checkpoint)."""
        path = Path(path)
        tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {"_target_": TARGET, "format_version": FORMAT_VERSION, "policy": self.cfg.to_dict()}
        (tmp / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        if adapters.adapter_mode(self.cfg.backbone):  # the frozen rest is backbone.pretrained's
            trainable = adapters.trainable_state(self.model)
            save_file({k: v.contiguous() for k, v in trainable.items()}, str(tmp / ADAPTER))
        else:
            save_model(self.model, str(tmp / WEIGHTS))
        norm = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.normalizer.state_dict().items()}
        save_file(norm, str(tmp / "normalizer.safetensors"))
        self.model.backbone.save_architecture(tmp / "backbone")
        if not self.model.act_tok.fixed_length:
            self.model.act_tok.save(tmp / "action_tokenizer")
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    # -- training ---------------------------------------------------------------------------------
    def compute_loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Raw batch (make_dataloader's keys) -> (loss, metrics); normalises with the policy's own stats."""
        model_batch = self._model_batch(batch)
        actions = torch.as_tensor(batch[ACTION], device=self.device, dtype=torch.float32)  # (B, T, D)
        if actions.shape[1:] != (self.cfg.chunk_size, self.cfg.action_dim):
            raise ValueError(
                f"batch['action'] has shape {tuple(actions.shape)}, the policy expects "
                f"(B, {self.cfg.chunk_size}, "
                f"{self.cfg.action_dim}); build the dataloader with chunk_size={self.cfg.chunk_size}"
            )
        if ACTION_IS_PAD in batch:
            actions = _hold_last(actions, torch.as_tensor(batch[ACTION_IS_PAD], device=self.device))
        model_batch["action"] = self.normalizer.normalize(ACTION, actions)
        loss, metrics = self.model.compute_loss(model_batch)
        if QA_BATCH not in batch:  # action-only training: exactly as before co-training existed
            return loss, metrics
        qa_loss, qa_metrics = self.compute_qa_loss(batch[QA_BATCH])
        # each QA sample weighs as much as an action sample: the action loss keeps its weight (and its
        # gradient the size it has in action-only training), the QA loss is added at n_qa / n_action
        weight = len(batch[QA_BATCH][QUESTION]) / len(actions)
        total = loss + weight * qa_loss
        metrics = {**metrics, "action_loss": metrics["loss"], **qa_metrics, "loss": float(total.detach())}
        return total, metrics

    def compute_qa_loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Scene QA batch (image keys as the action batch, "question" and "answer" lists of str) ->
        (language-model loss on the answer tokens, {"qa_loss", "qa_token_acc"}); vla/model/qa.py."""
        images = self._images(batch)
        return qa.qa_loss(self.model, images, list(batch[QUESTION]), list(batch[ANSWER]))

    # -- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_batch(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Raw batch without actions -> (B, T, D) float32 actions in robot units."""
        actions = self.model.predict_action_chunk(self._model_batch(batch))  # (B, T, D) normalised
        return np.asarray(self.normalizer.unnormalize(ACTION, actions), dtype=np.float32)

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        """One observation -> (T, D) float32 actions in robot units."""
        return self.predict_batch(observation_to_batch(obs, self.cfg.cameras))[0]

    @torch.no_grad()
    def answer_batch(self, batch: Mapping[str, Any], max_new_tokens: int = 16) -> list[str]:
        """Raw batch of images (B, 3, H, W) in [0, 1] per camera and "question" (list of str) -> the
        greedy answers (KV-cached generation until eos, vla/model/qa.py)."""
        questions = batch[QUESTION]
        questions = [questions] if isinstance(questions, str) else list(questions)
        return qa.generate_answers(self.model, self._images(batch), questions, max_new_tokens)

    def answer(self, obs: Observation, question: str, max_new_tokens: int = 16) -> str:
        """One observation (its (H, W, 3) uint8 camera images; no instruction or state needed) and a
        question about the scene -> the answer, e.g. "red"."""
        batch = observation_to_batch({**obs, TASK: question}, self.cfg.cameras)
        return self.answer_batch({**batch, QUESTION: [question]}, max_new_tokens)[0]

    def select_action(self, obs: Observation) -> np.ndarray:
        if self.cfg.temporal_ensemble_coeff is None:
            return Policy.select_action(self, obs)
        # ACT's temporal ensembling: average every live chunk's prediction for now, w_i = exp(-m * i),
        # oldest i=0
        self._ensemble.append([self.predict_action_chunk(obs), 0])
        preds = np.stack([chunk[age] for chunk, age in self._ensemble])  # (K, D)
        weights = np.exp(-self.cfg.temporal_ensemble_coeff * np.arange(len(preds)))[:, None]  # (K, 1)
        for item in self._ensemble:
            item[1] += 1
        while self._ensemble and self._ensemble[0][1] >= self.cfg.chunk_size:
            self._ensemble.popleft()
        return ((preds * weights).sum(0) / weights.sum()).astype(np.float32)

    def reset(self) -> None:
        Policy.reset(self)
        self._ensemble.clear()

    @property
    def device(self) -> torch.device:
        return self.model.action_ids.device

    @property
    def decode_failures(self) -> int:
        """Malformed action sequences counted (and repaired) since construction; see cfg.strict_decode."""
        return self.model.act_tok.num_decode_failures

    def _model_batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        missing = [k for k in [image_key(c) for c in self.cfg.cameras] + [TASK] if k not in batch]
        if self.cfg.state_tokens and OBS_STATE not in batch:
            missing.append(OBS_STATE)
        if missing:
            raise ValueError(f"batch lacks {missing}; the policy was built for cameras {self.cfg.cameras}")
        images = self._images(batch)
        tasks = batch[TASK]
        out: dict[str, Any] = {"images": images, "task": [tasks] if isinstance(tasks, str) else list(tasks)}
        if OBS_STATE in batch:
            state = torch.as_tensor(batch[OBS_STATE], device=self.device, dtype=torch.float32)  # (B, D_s)
            out["state"] = self.normalizer.normalize(OBS_STATE, state)
        return out

    def _images(self, batch: Mapping[str, Any]) -> list[torch.Tensor]:
        missing = [image_key(c) for c in self.cfg.cameras if image_key(c) not in batch]
        if missing:
            raise ValueError(f"batch lacks {missing}; the policy was built for cameras {self.cfg.cameras}")
        return [torch.as_tensor(batch[image_key(c)], device=self.device) for c in self.cfg.cameras]


def observation_to_batch(obs: Observation, cameras: Iterable[str]) -> dict[str, Any]:
    """One policy observation ((H, W, 3) uint8 images) -> a raw batch of one ((1, 3, H, W) in [0, 1])."""
    batch: dict[str, Any] = {TASK: [obs[TASK]]}
    for cam in cameras:
        img = torch.as_tensor(np.ascontiguousarray(obs[image_key(cam)]))
        if img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"obs[{image_key(cam)!r}] must be (H, W, 3) uint8, got {tuple(img.shape)}")
        batch[image_key(cam)] = img.permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, H, W)
    if OBS_STATE in obs:
        batch[OBS_STATE] = torch.as_tensor(np.asarray(obs[OBS_STATE], np.float32))[None]  # (1, D_s)
    return batch


def fake_observation(
    cameras: Iterable[str], image_size: int = 96, state_dim: int = 6, seed: int = 0
) -> Observation:
    """A valid random observation for tests and benchmarks (openpi's fake_obs)."""
    rng = np.random.default_rng(seed)
    obs: Observation = {
        image_key(c): rng.integers(0, 256, (image_size, image_size, 3), np.uint8) for c in cameras
    }
    obs[OBS_STATE] = rng.uniform(-1, 1, state_dim).astype(np.float32)
    obs[TASK] = "pick up the red cube"
    return obs


def collect_action_chunks(batches: Iterable[Mapping[str, Any]], max_chunks: int = 20_000) -> np.ndarray:
    """Raw (N, T, D) action chunks from a dataloader (to fit the fast tokenizer), padded steps held."""
    chunks, total = [], 0
    for batch in batches:
        actions = torch.as_tensor(batch[ACTION], dtype=torch.float32)
        if ACTION_IS_PAD in batch:
            actions = _hold_last(actions, torch.as_tensor(batch[ACTION_IS_PAD]))
        chunks.append(actions.numpy())
        total += len(actions)
        if total >= max_chunks:
            break
    if not chunks:
        raise ValueError("collect_action_chunks: the dataloader yielded no batches")
    return np.concatenate(chunks)[:max_chunks]


def _hold_last(actions: torch.Tensor, is_pad: torch.Tensor) -> torch.Tensor:
    """Padded steps (past an episode's end) repeat the last real action: the robot holds still."""
    keep = (~is_pad.bool()).long()  # (B, T)
    idx = torch.arange(actions.shape[1], device=actions.device)[None] * keep  # (B, T) own index if real
    last_real = torch.cummax(idx, dim=1).values  # (B, T) index of the last real step so far
    return torch.gather(actions, 1, last_real[..., None].expand_as(actions))  # (B, T, D)


def _modes(cfg: VLAConfig) -> dict[str, str]:
    # actions always quantile: both tokenizers work on the q01..q99 range mapped to [-1, 1]
    return {OBS_STATE: cfg.state_norm, ACTION: "quantile"}


def _make_normalizer(cfg: VLAConfig, stats: Mapping[str, Mapping[str, Any]]) -> Normalizer:
    for key, dim in ((OBS_STATE, cfg.state_dim), (ACTION, cfg.action_dim)):
        if key not in stats:
            raise ValueError(
                f"stats lack {key!r}; use vla.data.dataset.load_stats(root) of a recorded dataset"
            )
        got = np.asarray(stats[key]["q01"]).shape[-1]
        if got != dim:
            raise ValueError(f"stats[{key!r}] has dim {got} but the policy was given {dim}")
    return Normalizer({k: stats[k] for k in (OBS_STATE, ACTION)}, _modes(cfg))


def _make_tokenizer(cfg: VLAConfig) -> ActionTokenizer:
    t = cfg.tokenizer
    return make_action_tokenizer(
        t.type, cfg.chunk_size, cfg.action_dim, num_bins=t.num_bins, scale=t.scale, vocab_size=t.vocab_size
    )
