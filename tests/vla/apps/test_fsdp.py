"""FSDP2 (conf/accelerate/fsdp.yaml): the wrap policy shards each backbone's decoder layers; vla train
trains the same model under FSDP as under DDP, its checkpoints gather the shards into the files one
process writes, and they resume exactly under FSDP and on one process without it.

The runs use tests/vla/apps/fsdp_on_cpu.py, which turns accelerate's gloo group on this GPU-less machine
into FSDP2 (accelerate forms FSDP only on GPUs; that script's docstring says what it stands in for).
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType
from safetensors.torch import load_file

from tests.vla.model.tiny_families import preset_geometry
from vla import checkpoint as ckpt
from vla.training import fsdp
from vla.training.loop import Trainer
from vla.training.validate import ConfigError

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1"}
PRESET = ROOT / "conf" / "accelerate" / "fsdp.yaml"
DRIVER = ROOT / "tests" / "vla" / "apps" / "fsdp_on_cpu.py"
WEIGHTS = Path(ckpt.CHECKPOINTS) / "step_000004" / ckpt.PRETRAINED / "model.safetensors"


def test_fsdp_preset_is_fsdp2_wrapping_the_layers_the_backbone_names() -> None:
    config = load_config_from_file(str(PRESET))
    assert config.distributed_type == DistributedType.FSDP and config.num_processes == 8
    assert config.fsdp_config["fsdp_version"] == 2
    assert config.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert "fsdp_transformer_layer_cls_to_wrap" not in config.fsdp_config  # _no_split_modules decides


@pytest.mark.parametrize(
    ("family", "decoder_layer"),
    [
        ("paligemma", "Gemma2DecoderLayer"),
        ("qwen2_5_vl", "Qwen2_5_VLDecoderLayer"),
        ("smolvlm", "LlamaDecoderLayer"),
    ],
)
def test_wrap_policy_names_each_familys_decoder_layers(family: str, decoder_layer: str) -> None:
    """The 3B presets' families, at tiny sizes: their transformers models' `_no_split_modules`, only
    classes present (accelerate fails on a name it cannot find)."""
    _, model = preset_geometry(family)
    names = fsdp.no_split_modules(torch.nn.ModuleDict({"backbone": model}))
    assert decoder_layer in names
    present = {type(m).__name__ for m in model.modules()}
    assert set(names) <= present


def _trainer_under(plugin_version: int, ema: bool) -> None:
    accelerator = SimpleNamespace(
        distributed_type=DistributedType.FSDP,
        state=SimpleNamespace(fsdp_plugin=SimpleNamespace(fsdp_version=plugin_version)),
    )
    Trainer(
        cfg={"ema": {"enabled": ema}}, accelerator=accelerator, policy=None, make_loader=None,  # type: ignore[arg-type]
        run_dir=Path("."), config_yaml="",
    )  # fmt: skip


def test_fsdp1_and_ema_are_refused_before_any_work() -> None:
    with pytest.raises(ConfigError, match=r"needs FSDP2 .*fsdp_version: 2"):
        _trainer_under(1, ema=False)
    with pytest.raises(ConfigError, match=r"train.ema.enabled=true under FSDP.*train.ema.enabled=false"):
        _trainer_under(2, ema=True)


def test_optimizer_state_by_name_converts_to_torchs_layout_and_back() -> None:
    """DCP's full optimizer state (by parameter name) <-> Optimizer.state_dict()'s (by index): the
    checkpoint files hold the second, so FSDP and single-process checkpoints are one format."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    optimizer = torch.optim.AdamW(
        [{"params": [model[0].weight, model[1].weight]}, {"params": [model[0].bias]}]
    )
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    names = fsdp.param_names(model, optimizer)
    assert names == ["0.weight", "1.weight", "0.bias"]
    saved = optimizer.state_dict()
    by_name = {
        "state": {names[i]: v for i, v in saved["state"].items()},
        "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in saved["param_groups"]],
    }
    again = fsdp._by_index(by_name)
    assert again["param_groups"] == saved["param_groups"]
    assert again["state"].keys() == saved["state"].keys()
    for i, values in saved["state"].items():
        assert all(torch.equal(values[k], again["state"][i][k]) for k in values)


def _launch(config: Path, script: list[str], run: Path, *overrides: str) -> str:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
        "--num_processes", "2", *script, *overrides, "train.steps=4", "train.save_every=2",
        f"run_dir={run}", f"hydra.run.dir={run}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


@pytest.mark.slow
def test_fsdp_trains_as_ddp_and_its_checkpoints_resume_exactly(tmp_path: Path, debug_dataset: Path) -> None:
    """2 processes, 4 steps: FSDP2 by decoder layers against DDP on the same data (one all-reduce against
    a reduce-scatter: equal to float rounding); the FSDP run evaluated in the sim at its end (gathered
    onto the main process); resumed from its step 2 under FSDP (bitwise the straight run) and on one
    process without FSDP (its optimizer state continues: AdamW's step count reaches 4); the DDP run
    resumed from its step 2 under FSDP (DDP's step 4, to float rounding)."""
    data = (f"dataset.root={debug_dataset}", "experiment=debug")
    sharded = tmp_path / "fsdp"
    log = _launch(PRESET, [str(DRIVER)], sharded, *data, "train.eval_at_end=true", "eval.n_episodes=1")
    assert "FSDP2 over 2 processes" in log and "x LlamaDecoderLayer" in log
    assert json.loads((sharded / "eval" / "step_000004" / "report.json").read_text())
    replicated = tmp_path / "ddp"
    _launch(
        PRESET.with_name("ddp.yaml"), ["-m", "vla.apps.train"], replicated, *data, "train.eval_at_end=false"
    )
    step_change = _max_difference(sharded / WEIGHTS, sharded / str(WEIGHTS).replace("000004", "000002"))
    assert _max_difference(sharded / WEIGHTS, replicated / WEIGHTS) < 1e-3 * step_change

    step2 = sharded / ckpt.CHECKPOINTS / "step_000002"
    resumed = tmp_path / "fsdp_resumed"
    _launch(PRESET, [str(DRIVER)], resumed, f"resume={step2}", "train.eval_at_end=false")
    assert _max_difference(sharded / WEIGHTS, resumed / WEIGHTS) == 0.0

    from_ddp = tmp_path / "fsdp_from_ddp"
    ddp_step2 = replicated / ckpt.CHECKPOINTS / "step_000002"
    _launch(PRESET, [str(DRIVER)], from_ddp, f"resume={ddp_step2}", "train.eval_at_end=false")
    assert _max_difference(replicated / WEIGHTS, from_ddp / WEIGHTS) < 1e-3 * step_change

    alone = tmp_path / "one_process"
    cmd = [
        sys.executable,
        "-m",
        "vla.apps.train",
        f"resume={step2}",
        "train.eval_at_end=false",
        f"run_dir={alone}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    adam = load_file(
        str(alone / ckpt.CHECKPOINTS / "step_000004" / ckpt.TRAINING_STATE / "optimizer.safetensors")
    )
    steps = {float(v) for k, v in adam.items() if k.endswith("/step")}
    assert steps == {4.0}


def test_fsdp_settings_without_a_gpu_are_named_not_silently_dropped() -> None:
    """`accelerate launch --config_file conf/accelerate/fsdp.yaml` on a machine without a GPU: accelerate
    forms no FSDP group, and vla train says so instead of training replicas as if sharded."""
    code = (
        "from vla.training.setup import make_accelerator; "
        "make_accelerator({'mixed_precision': 'no', 'cpu': True})"
    )
    env = {**ENV, "ACCELERATE_USE_FSDP": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "launched with FSDP settings" in proc.stderr and "as under DDP" in proc.stderr
