"""Imports run one way: apps -> policies -> the model library, apps -> the libraries; envs stand alone.

    vla/apps/             the apps: the only place where envs, policies and libraries meet
    policies/             controllers behind one interface; may use the libraries
    vla/data, vla/model, vla/training, vla/bridge,
    vla/{checkpoint,config,constants,logging_utils,provenance,runtime}.py:
                          the libraries (the bridge takes any policy with predict_action_chunk, imports none)
    envs/                 Gymnasium envs; know nothing of vla/ or policies/

Reads every module's source, imports inside functions included (a lazy import must not hide an arrow
that points the wrong way); nothing is imported, so it takes a fraction of a second.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_PACKAGES = ("vla.data", "vla.model", "vla.training", "vla.bridge")
LIBRARY_MODULES = (
    "vla", "vla.checkpoint", "vla.config", "vla.constants", "vla.logging_utils", "vla.provenance",
    "vla.runtime",
)  # fmt: skip
APPS, BRIDGE, CLI = "vla.apps", "vla.bridge", "vla.cli"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> dict[str, Path]:
    return {_name(p): p for p in sorted((ROOT / package.replace(".", "/")).rglob("*.py"))}


MODULES = {**_modules("vla"), **_modules("envs"), **_modules("policies")}


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _imports(module: str) -> Iterator[str]:
    """Every module name `module` imports, anywhere in its source; `from a import b` gives a.b if
    that is a module of ours, else a."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _violations(modules: list[str], *forbidden: str) -> list[str]:
    return [f"{m} imports {i}" for m in modules for i in sorted(set(_imports(m))) if _within(i, *forbidden)]


def _libraries() -> list[str]:
    return [m for m in MODULES if _within(m, *LIBRARY_PACKAGES) or m in LIBRARY_MODULES]


def test_every_vla_module_has_a_layer() -> None:
    """A new module of vla/ is a library (the bridge is one), an app or the CLI: decide which."""
    layered = set(_libraries())
    loose = [m for m in MODULES if _within(m, "vla") and m not in layered]
    loose = [m for m in loose if not _within(m, APPS, CLI)]
    assert not loose, f"add these to a layer in tests/test_layering.py: {loose}"


def test_libraries_import_no_app_env_policy_or_bridge() -> None:
    """The bridge (ROS 2 wire, safety layer, runner) is a library too: it takes a policy, imports none."""
    bridge = [m for m in _libraries() if _within(m, BRIDGE)]
    others = [m for m in _libraries() if not _within(m, BRIDGE)]
    assert not _violations(others, APPS, BRIDGE, "envs", "policies")
    assert not _violations(bridge, APPS, "envs", "policies")


def test_policies_import_no_app_no_env_and_no_bridge() -> None:
    policies = [m for m in MODULES if _within(m, "policies")]
    assert not _violations(policies, APPS, BRIDGE, "envs")


def test_envs_import_nothing_of_vla_or_policies() -> None:
    envs = [m for m in MODULES if _within(m, "envs")]
    assert not _violations(envs, "vla", "policies")


def test_only_apps_import_apps() -> None:
    """The CLI names its apps as strings (importlib); nothing else below them imports one."""
    others = [m for m in MODULES if not _within(m, APPS)]
    assert not _violations(others, APPS)


def test_no_import_cycles() -> None:
    """Between modules of envs, policies and vla, function-local imports included."""
    graph = {m: sorted(i for i in set(_imports(m)) if i in MODULES and i != m) for m in MODULES}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One import cycle of graph as [a, b, ..., a], or None (depth-first search)."""
    done: set[str] = set()

    def visit(path: list[str]) -> list[str] | None:
        for child in graph[path[-1]]:
            if child in path:
                return [*path[path.index(child) :], child]
            if child not in done and (found := visit([*path, child])):
                return found
        done.add(path[-1])
        return None

    return next((c for m in graph if m not in done and (c := visit([m]))), None)
