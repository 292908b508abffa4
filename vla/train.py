"""`vla train`: imitation training of a policy on a LeRobotDataset, with periodic sim evaluation.

    vla train experiment=debug                       # tiny backbone, a few steps, records its own data
    vla train dataset.root=outputs/datasets/pick train.steps=5000 backbone=smolvlm2_256m
    vla train resume=outputs/train/<run>             # continues exactly where the run stopped

The run dir holds checkpoints/ (see vla/checkpoint.py), metrics.jsonl, plots/*.png, eval/step_*/
(report.md, videos) and, unless wandb.mode=disabled, a wandb run (offline by default).
"""

import logging
import sys
from pathlib import Path

import hydra
from accelerate.utils import set_seed
from omegaconf import DictConfig, OmegaConf

from vla.config import CONF_DIR
from vla.logging_utils import RunLogger
from vla.training import setup
from vla.training.loop import Trainer
from vla.training.validate import ConfigError, validate_train

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> Path:
    """Trains as cfg says; returns the run dir. Reads top to bottom as the table of contents."""
    resume_from = setup.resume_dir(cfg)
    if resume_from is not None:  # the run's own settings, except those this command line sets
        changed = setup.inherit_run_config(cfg, resume_from)
        if changed:
            log.warning("resuming with settings that differ from the run's (as given): %s", changed)
    validate_train(cfg)  # 1. bad values fail here, before any work
    accelerator = setup.make_accelerator(cfg.train)  # 2. device, mixed precision, processes
    run_dir = setup.run_dir(cfg, resume_from, accelerator)
    set_seed(cfg.seed)
    root = setup.prepare_dataset(cfg)  # 3. data: recorded if asked, checked against the env
    from vla.data.dataset import dataset_features

    setup.check_dataset_fits(cfg, dataset_features(root))
    policy = setup.build_policy(cfg, root, resume_from)  # 4. the policy, fresh or from the checkpoint
    config = OmegaConf.to_container(cfg, resolve=True)
    logger = RunLogger(run_dir, cfg.wandb, config) if accelerator.is_main_process else None
    trainer = Trainer(
        cfg=OmegaConf.to_container(cfg.train, resolve=True), accelerator=accelerator, policy=policy,
        make_loader=setup.loader_factory(cfg, root), run_dir=run_dir, config_yaml=OmegaConf.to_yaml(config),
        logger=logger, evaluate=setup.make_evaluator(cfg, run_dir) if accelerator.is_main_process else None,
    )  # fmt: skip
    if resume_from is not None:  # 5. optimiser, schedule, EMA, RNG, data position
        trainer.resume(resume_from)
        log.info("resumed from %s at step %d", resume_from, trainer.step)
    trainer.fit()  # 6. train, checkpoint, evaluate
    if logger is not None:
        for plot in logger.close():
            log.info("plot: %s", plot)
    log.info("run dir: %s (checkpoint: %s)", run_dir, run_dir / "checkpoints" / "last")
    return run_dir


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except ConfigError as err:  # the message names the key and the fix: no traceback needed
        sys.exit(f"vla train: config error: {err}")


def main() -> None:
    _main()


if __name__ == "__main__":  # `accelerate launch -m vla.train ...` (multi-process) runs this module
    main()
