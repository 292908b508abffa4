"""The `vla` command: one entry point, one sub-command per app (vla/apps/; deploy and sim-robot: vla/bridge/).

Hydra apps take overrides after the sub-command: `vla train experiment=debug train.steps=10`.
Sub-commands are listed explicitly (no names assembled from strings) and imported lazily so
that `vla --help` is instant.
"""

import importlib
import os
import sys

# sub-command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "record": ("vla.apps.record", "main", "record demonstrations into a LeRobotDataset (Hydra)"),
    "dataset": ("vla.data.inspect", "main", "datasets: info, show, check, reencode, from-rosbag BAG OUT, qa"),
    "train": ("vla.apps.train", "main", "train a policy by imitation (Hydra)"),
    "eval": ("vla.apps.eval", "main", "evaluate a checkpoint or registered policy in simulation (Hydra)"),
    "ask": ("vla.apps.ask", "main", "ask a trained VLA a question about an image: prints the answer"),
    "demo": ("vla.apps.demo", "main", "record, train, evaluate on the embedded default, end to end"),
    "sweep": ("vla.apps.sweep_report", "main", "report a Hydra sweep: `report DIR` (report.md, .csv, plots)"),
    "export": ("vla.apps.export", "main", "a trained VLA as a folder; --merge folds LoRA into full weights"),
    "deploy": ("vla.apps.deploy", "main", "run a policy on a ROS 2 robot through the safety layer (Hydra)"),
    "sim-robot": ("vla.apps.sim_robot", "main", "serve a tabletop env as a ROS 2 robot (Hydra)"),
}

# `vla train <overrides> --dry-run` (or train.dry_run=true): vla.apps.dry_run prints the run's size instead
DRY_RUN_FLAGS = ("--dry-run", "train.dry_run=true", "train.dry_run=True", "+train.dry_run=true")


def _usage() -> str:
    lines = ["usage: vla <command> [args...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += [
        "",
        "Hydra apps take overrides (key=value, group=option) and `--help` (config groups and every key),",
        "`--cfg job` (print the composed config, run nothing), `-m` (sweep over comma-separated values).",
        "",
        "examples:",
        "  vla train experiment=debug                    # smoke run: tiny model, 4 steps, 1 eval episode",
        "  vla eval policy_path=outputs/train/<run> eval.n_episodes=10",
        "  vla eval policy_name=expert env=pick_cube",
        "  vla sweep report outputs/multirun/<time>      # every run of a `-m` sweep, seeds grouped",
        "  vla train backbone=paligemma2_3b --dry-run    # parameters, tokens, GPU memory plan; runs nothing",
        "  vla train --help                              # or: vla help train",
        "",
        "guides: docs/training.md (train, eval, sweeps), docs/datasets.md, docs/deploy.md",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "help" and argv[1] in COMMANDS:
        argv = [argv[1], "--help"]  # `vla help train` == `vla train --help`
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    name = argv[0]
    if name not in COMMANDS:
        sys.exit(f"vla: unknown command {name!r}\n\n{_usage()}")
    module_name, func_name, _ = COMMANDS[name]
    if name == "train" and any(a in DRY_RUN_FLAGS for a in argv):  # sizes the run, starts nothing
        module_name, func_name = "vla.apps.dry_run", "main"
        argv = [a for a in argv if a not in DRY_RUN_FLAGS]
    if name == "dataset" and argv[1:2] == ["qa"]:  # resets envs: an app, while vla.data.inspect is a library
        module_name, func_name = "vla.apps.scene_qa", "main"
    # Hydra reads sys.argv itself: present the sub-command as the program name.
    sys.argv = [f"vla {name}", *argv[1:]]
    try:
        getattr(importlib.import_module(module_name), func_name)()
    except BrokenPipeError:  # `vla train --help | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # python would flush the dead pipe at exit


if __name__ == "__main__":
    main()
