"""FSDP (accelerate's FSDP2) for vla train: which layers get their own shard group, and checkpoints that
gather the sharded model and optimizer into the same files a single process writes.

Under FSDP every process holds a shard of every parameter (a DTensor), so nothing can be saved or
evaluated from one process's module. At a checkpoint or an evaluation all processes gather the full
trainable weights and optimizer state onto the main process (torch.distributed.checkpoint's full state
dicts), which loads them into a plain copy of the policy it kept from before sharding (the *replica*):
the replica writes pretrained/ and runs the sim evaluation, and the optimizer state is written in
torch's own layout (parameters by index). A checkpoint written under FSDP therefore resumes on one
process, under DDP, or under FSDP on another number of processes, and the other way round.

Frozen weights (the 3B presets' backbone under LoRA) are not gathered: they never change, and the
replica already holds them. EMA is refused (its shadow weights are not sharded with the model).
"""

from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from vla.training.validate import ConfigError

_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def is_fsdp(accelerator: Accelerator) -> bool:
    return accelerator.distributed_type == DistributedType.FSDP


def check_supported(accelerator: Accelerator, train_cfg: Mapping[str, Any]) -> None:
    """Names what vla train cannot do under FSDP before any work."""
    version = getattr(accelerator.state.fsdp_plugin, "fsdp_version", 1)
    if version != 2:
        raise ConfigError(
            f"accelerate launched FSDP version {version}; vla train needs FSDP2 (`fsdp_version: 2` in the "
            "accelerate config: conf/accelerate/fsdp.yaml)"
        )
    if train_cfg["ema"]["enabled"]:
        raise ConfigError(
            "train.ema.enabled=true under FSDP: the EMA weights are not sharded with the model "
            "(fix: train.ema.enabled=false, or DDP: conf/accelerate/ddp.yaml)"
        )


def no_split_modules(policy: torch.nn.Module) -> list[str]:
    """The layer classes FSDP's transformer wrap policy shards one by one: the `_no_split_modules` of every
    transformers model inside the policy (its decoder and vision-encoder layers), present in it."""
    present = {type(m).__name__ for m in policy.modules()}
    names: set[str] = set()
    for module in policy.modules():
        names.update(getattr(module, "_no_split_modules", None) or ())
    return sorted(names & present)


def describe(model: torch.nn.Module, processes: int) -> str:
    """One log line: how accelerate sharded the model (its shard groups by layer class)."""
    from torch.distributed.fsdp import FSDPModule

    groups = Counter(
        type(m).__name__.removeprefix("FSDP") for m in model.modules() if isinstance(m, FSDPModule)
    )
    shown = ", ".join(f"{n} x {name}" for name, n in groups.most_common())
    return f"FSDP2 over {processes} processes: {sum(groups.values())} shard groups ({shown})"


def gather_full_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, with_optimizer: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """(trainable weights, optimizer state or None) in full on the main process ({} elsewhere); every
    process must call it. Weight names are the prepared module's; the optimizer state is by index."""
    weights = get_model_state_dict(model, options=_GATHER)
    if not with_optimizer:
        return weights, None
    by_name = get_optimizer_state_dict(model, optimizer, options=_GATHER)
    return weights, _by_index(by_name) if by_name else {}  # {}: not the main process (gathered on rank 0)


def load_optimizer_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state_by_index: Mapping[str, Any]
) -> None:
    """Every process passes the full saved state (torch's layout); each keeps its shard of it."""
    names = param_names(model, optimizer)
    state = {names[int(i)]: values for i, values in state_by_index["state"].items()}
    groups = [{**g, "params": [names[int(i)] for i in g["params"]]} for g in state_by_index["param_groups"]]
    set_optimizer_state_dict(
        model,
        optimizer,
        {"state": state, "param_groups": groups},
        options=StateDictOptions(full_state_dict=True),
    )


def param_names(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The optimizer's parameters' names, in torch's state_dict order (groups in order, then params)."""
    name_of = {id(p): name for name, p in model.named_parameters()}
    return [name_of[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _by_index(by_name: Mapping[str, Any]) -> dict[str, Any]:
    """torch.distributed.checkpoint's full optimizer state (parameters by name) -> Optimizer.state_dict()'s
    layout (by index, in the order the groups list them), which the checkpoint files hold."""
    order = [name for group in by_name["param_groups"] for name in group["params"]]
    index = {name: i for i, name in enumerate(order)}
    state = {index[name]: dict(values) for name, values in by_name["state"].items()}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in by_name["param_groups"]]
    return {"state": state, "param_groups": groups}


def load_into_replica(replica: torch.nn.Module, weights: Mapping[str, torch.Tensor], prefix: str) -> None:
    """The gathered trainable weights into the main process's plain copy; every trainable one must come."""
    own = {name.removeprefix(prefix): value for name, value in weights.items()}
    trainable = {name for name, p in replica.named_parameters() if p.requires_grad}
    missing = sorted(trainable - set(own))
    if missing:
        raise RuntimeError(f"FSDP gathered no weights for {missing[:5]} ({len(missing)} trainable tensors)")
    replica.load_state_dict(own, strict=False)
