"""The `vla` command: one entry point, one sub-command per app.

Hydra apps take overrides after the sub-command: `vla train experiment=debug train.steps=10`.
Sub-commands are listed explicitly (no names assembled from strings) and imported lazily so
that `vla --help` is instant.
"""

import importlib
import sys

# sub-command -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "record": ("vla.data.record", "main", "record demonstrations into a LeRobotDataset (Hydra)"),
    "dataset": ("vla.data.inspect", "main", "inspect a dataset: `info PATH`, `show PATH --episode K`"),
    "train": ("vla.train", "main", "train a policy by imitation (Hydra)"),
    "eval": ("vla.eval", "main", "evaluate a checkpoint or registered policy in simulation (Hydra)"),
    "demo": ("vla.demo", "main", "record, train, evaluate on the embedded default, end to end"),
    "deploy": ("vla.bridge.deploy", "main", "run a policy on a ROS 2 robot through the safety layer (Hydra)"),
    "sim-robot": ("vla.bridge.sim_robot", "main", "serve a tabletop env as a ROS 2 robot (Hydra)"),
}


def _usage() -> str:
    lines = ["usage: vla <command> [args...]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Hydra apps accept overrides (key=value) and --help / --cfg job."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    name = argv[0]
    if name not in COMMANDS:
        sys.exit(f"vla: unknown command {name!r}\n\n{_usage()}")
    module_name, func_name, _ = COMMANDS[name]
    # Hydra reads sys.argv itself: present the sub-command as the program name.
    sys.argv = [f"vla {name}", *argv[1:]]
    getattr(importlib.import_module(module_name), func_name)()


if __name__ == "__main__":
    main()
