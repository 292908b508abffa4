"""The scripted expert of any task of the suite, for a process that holds no env.

The ROS bridge's sim_expert policy plans from the privileged state that `vla sim-robot` publishes;
its process never builds a task env, so nothing there has imported the task modules that register
their plans (scripted.register_plan). Importing this module imports every task (multitask.TASKS
lists them), after which `make_expert(task_name, privileged_state)` knows all of them.
"""

from envs.tabletop.multitask import TASKS
from envs.tabletop.scripted import ScriptedExpert, make_expert

__all__ = ["TASKS", "ScriptedExpert", "make_expert"]
