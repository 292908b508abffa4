"""`vla demo` (`make demo`): the whole job on the embedded default, end to end, on a laptop CPU.

1. record expert demonstrations of the default task (conf/experiment/demo.yaml: TouchCube),
2. train the tiny VLA on them,
3. evaluate the final checkpoint on held-out seeds, for seen and held-out instructions,
4. print the success table, the time each stage took, and where the videos and plots are.

Any `vla train` override works: `vla demo train.steps=100 dataset.num_episodes=50`.
"""

import json
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from vla import runtime
from vla.apps import eval_report as rep
from vla.apps.eval import evaluate, load_policy
from vla.apps.train import prepare_dataset, train
from vla.config import CONF_DIR
from vla.training.validate import validate_train


def run_demo(cfg: DictConfig) -> dict:
    """Record -> train -> evaluate; returns the evaluation report (with the stage timings added)."""
    validate_train(cfg)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    prepare_dataset(cfg)  # records only when the dataset is not there yet
    timings["record"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_dir = train(cfg)
    timings["train"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    policy, label = load_policy(str(run_dir), None)
    eval_cfg = OmegaConf.to_container(cfg.eval, resolve=True)
    report = evaluate(
        policy, label, OmegaConf.to_container(cfg.env, resolve=True), eval_cfg, run_dir / "eval"
    )
    timings["eval"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    report["timings_s"] = timings
    # evaluate() wrote report.json before the eval stage ended; rewrite it with every stage's time
    Path(report["files"]["report_json"]).write_text(json.dumps(report, indent=1))
    summary = _summary(report, run_dir, rep.markdown(report))
    (run_dir / "demo_summary.md").write_text(summary)
    print(summary)
    return report


def _summary(report: dict, run_dir: Path, table: str) -> str:
    t = report["timings_s"]
    lines = [
        table,
        f"Wall time: record {t['record']:.0f} s, train {t['train']:.0f} s, eval {t['eval']:.0f} s, "
        f"total {t['total'] / 60:.1f} min.",
        "",
        f"run dir:    {run_dir}",
        f"checkpoint: {run_dir / 'checkpoints' / 'last'}",
        f"report:     {report['files']['report_md']}",
        f"plots:      {report['files']['plot']}, {run_dir / 'plots' / 'loss.png'}",
    ]
    lines += [f"video:      {v}" for v in report["files"]["videos"]]
    return "\n".join(lines) + "\n"


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    runtime.configure(cfg.runtime)
    run_demo(cfg)


def main() -> None:
    # the demo preset unless the user picked another experiment
    if not any(arg.startswith(("experiment=", "+experiment=")) for arg in sys.argv[1:]):
        sys.argv.insert(1, "experiment=demo")
    _main()
