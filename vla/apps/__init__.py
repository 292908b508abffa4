"""The apps: each builds everything from its config and is the only place where envs, policies and the
libraries meet. `vla/cli.py` dispatches to them.

    record.py       `vla record`: a policy (default: the scripted expert) in sim -> a LeRobotDataset
    rollout.py      one episode of a policy in one env (what record writes), and its replay
    train.py        `vla train`: dataset (recorded if missing), policy, Trainer, periodic sim evaluation
    eval.py         `vla eval`: seeded episodes of a checkpoint or registered policy -> a report
    eval_episodes.py  the evaluation's episodes in a vector env, one process per env
    eval_report.py  success with Wilson intervals, markdown, plot, videos
    demo.py         `vla demo`: record -> train -> eval on the embedded default
    probe.py        `python -m vla.apps.probe`: which inputs a trained policy uses
    processes.py    start methods for the worker processes the apps start

Imports run one way: apps -> policies -> vla.model, apps -> the libraries (vla.data, vla.model,
vla.training, vla.checkpoint, ...). No library imports an app, an env or a policy
(tests/test_layering.py). `vla deploy` and `vla sim-robot` live in vla/bridge/ for now.
"""
