"""`vla train` under accelerate's FSDP2 on a machine without a GPU, for tests/vla/apps/test_fsdp.py.

    accelerate launch --config_file conf/accelerate/fsdp.yaml --num_processes 2 \
        tests/vla/apps/fsdp_on_cpu.py <vla train overrides>

accelerate forms FSDP only on GPU-type devices: on a CPU its processes form a gloo group of type
MULTI_CPU, and the FSDP settings that `accelerate launch` exported from the config file are ignored.
This script is the one stand-in: it builds the accelerator as vla train does, then turns it into FSDP2
with the plugin those exported settings describe (conf/accelerate/fsdp.yaml's). Everything after is the
real path: accelerate's fully_shard of the policy by its layers, the steps on DTensor shards, the
gathers at checkpoints and evaluations, and the resume.
"""

from collections.abc import Mapping
from typing import Any

from accelerate import Accelerator, FullyShardedDataParallelPlugin, PartialState
from accelerate.utils import DistributedType

from vla.apps import train
from vla.training import setup

_make_accelerator = setup.make_accelerator


def fsdp_accelerator(train_cfg: Mapping[str, Any]) -> Accelerator:
    accelerator = _make_accelerator(train_cfg)
    assert accelerator.distributed_type == DistributedType.MULTI_CPU, accelerator.distributed_type
    accelerator.state.fsdp_plugin = FullyShardedDataParallelPlugin()  # from accelerate launch's FSDP_* env
    accelerator.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP  # as AcceleratorState sets it
    return accelerator


if __name__ == "__main__":
    setup.make_accelerator = fsdp_accelerator
    train.main()
