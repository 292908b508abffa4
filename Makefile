# vla — two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
# lerobot 0.5+ needs Python >= 3.12. Override with `make PYTHON=/path/to/python3.12 ...`.
PYTHON ?= $(shell for p in python3.12 "$$(pyenv root 2>/dev/null)/versions/3.12.1/bin/python3" \
	$$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3 /usr/bin/python3.12 /usr/local/bin/python3.12 2>/dev/null); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] >= (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
PY := $(VENV)/bin/python
# ROS 2's rclpy (Fast DDS) for the bridge's interoperation tests, in a venv of its own (why:
# tests/bridge/ros2_requirements.txt).
ROS_VENV ?= .venv-ros
APT_PACKAGES := ffmpeg libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow lint bench bench-speed compare compare-pick compare-mt10 compare-600 compare-600-4500 clean

setup: $(VENV)/.installed $(ROS_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@bash scripts/install_system_deps.sh $(APT_PACKAGES)
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found; install one and run 'make PYTHON=/path/to/python3.12 setup'"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	@touch $@

$(ROS_VENV)/.installed: tests/bridge/ros2_requirements.txt
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found; install one and run 'make PYTHON=/path/to/python3.12 setup'"; exit 1; }
	@test -x $(ROS_VENV)/bin/python || $(PYTHON) -m venv $(ROS_VENV)
	$(ROS_VENV)/bin/python -m pip install -q --upgrade pip
	$(ROS_VENV)/bin/python -m pip install -r tests/bridge/ros2_requirements.txt
	@touch $@

demo: setup
	$(VENV)/bin/vla demo

test: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check vla envs policies hydra_plugins tests benchmarks scripts
	$(VENV)/bin/ruff format --check vla envs policies hydra_plugins tests benchmarks scripts

bench: bench-speed compare  # every figure: the speed benchmarks (~40 min), then the comparison (~1.5 h)

bench-speed: setup
	$(PY) -m benchmarks.run_all

compare: setup  # the VLA, ACT, Diffusion Policy and SmolVLA on the same data and budget
	$(PY) -m benchmarks.bench_compare hydra/launcher=joblib hydra.launcher.n_jobs=2

compare-pick: setup  # the same four on one task: PickCube, random layout (~14 min recording + ~90 min)
	$(PY) -m benchmarks.bench_compare --preset compare_pick hydra/launcher=joblib hydra.launcher.n_jobs=2

compare-mt10: setup  # the VLA and Diffusion Policy on Meta-World MT10 (~12 min recording + ~45 min)
	$(PY) -m benchmarks.bench_compare --preset compare_mt10 hydra/launcher=joblib hydra.launcher.n_jobs=2

compare-600: setup  # the four on 3x the six-task demos (~20 min recording + ~90 min)
	$(PY) -m benchmarks.bench_compare --preset compare_600 hydra/launcher=joblib hydra.launcher.n_jobs=2

compare-600-4500: setup  # the same at 4500 s per policy (~20 min recording + ~3 h)
	$(PY) -m benchmarks.bench_compare --preset compare_600_4500 hydra/launcher=joblib hydra.launcher.n_jobs=2

clean:
	rm -rf outputs .pytest_cache
