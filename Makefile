# One entry point for people and CI: `make demo` runs the embedded default, `make test` passes the tests.
# Both set up what they need first (Debian packages, the venv, buf).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
BUF := .tools/node_modules/.bin/buf
BUF_VERSION := 1.61.0
TORCH_VERSION := 2.13.0

.PHONY: setup system test-system demo serve test lint bench bench-compose bench-compose-gpu bench-transcribe bench-transcribe-gpu bench-library loadtest-report soak protos k8s clean

setup: system $(BIN)/.installed $(BUF)

system:
	bash deploy/setup-system.sh

test-system:
	bash deploy/setup-system.sh --tests

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch, before anything can ask for a (multi-GB CUDA) newer one.
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	# basic-pitch's metadata requires tensorflow on Linux; we run its ONNX model, so no dependencies.
	$(BIN)/pip install -q --no-deps basic-pitch==0.4.0
	# audiocraft pins torch 2.1 and more; text-to-music needs only what pyproject lists (see generator/_imports.py).
	$(BIN)/pip install -q --no-deps audiocraft==1.3.0 xformers==0.0.35
	# wordllama's metadata asks numpy>=2; its model (in the wheel) runs on our numpy 1.26 (library/describe.py).
	$(BIN)/pip install -q --no-deps wordllama==0.4.0.post1
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION)

demo: setup
	$(BIN)/dgx-music demo

serve: setup
	$(BIN)/dgx-music serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	for model in model_repository/*/1/model.py; do $(BIN)/mypy $$model || exit 1; done
	cd protos && ../$(BUF) lint

test: test-system lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/gateway_overhead.py
	$(BIN)/python benchmarks/cache.py
	$(BIN)/python benchmarks/composing.py
	$(BIN)/python benchmarks/transcription.py
	$(BIN)/python benchmarks/instruments.py
	$(BIN)/python benchmarks/separation.py
	$(BIN)/python benchmarks/analysis.py
	$(BIN)/python benchmarks/generation.py
	$(BIN)/python benchmarks/compose_speed.py
	$(BIN)/python benchmarks/transcription_speed.py
	$(BIN)/python benchmarks/train_adapter.py

# Compose vs the fluidsynth CLI, and renders through shared memory vs gRPC (issue #15); -gpu: on an NVIDIA GPU machine.
bench-compose: setup
	$(BIN)/python benchmarks/compose_speed.py

bench-compose-gpu: setup
	$(BIN)/python benchmarks/compose_speed.py --device cuda

# dgx-music transcribe vs a basic-pitch predict() process, whole process (issue #15); -gpu: on an NVIDIA GPU machine.
bench-transcribe: setup
	$(BIN)/python benchmarks/transcription_speed.py

bench-transcribe-gpu: setup
	$(BIN)/python benchmarks/transcription_speed.py --device cuda

# The library's search and similar on 10,000 items in a PostgreSQL of its own (issue #17): about a minute.
bench-library: setup
	$(BIN)/python benchmarks/library_search.py

# benchmarks/RESULTS.md and its plots, from one load-test run on this machine (issue #13): about 7 minutes.
loadtest-report: setup
	$(BIN)/python benchmarks/loadtest_report.py

# Ten minutes of mixed load with a fault every minute (issue #9): failed requests, jobs lost, recovery, memory.
soak: setup
	$(BIN)/python benchmarks/soak.py

protos: $(BIN)/.installed
	$(BIN)/python protos/generate.py

# deploy/k8s: the Kubernetes base and the shipped profiles' overlays (tests/test_k8s.py proves they equal this render).
K8S_PROFILES := embedded dgx-spark gpu-server
k8s: $(BIN)/.installed
	for profile in $(K8S_PROFILES); do $(BIN)/dgx-music plan --profile $$profile --out build/plans/$$profile --k8s deploy/k8s || exit 1; done

clean:
	rm -rf $(VENV) .tools .dgx-music .mypy_cache .ruff_cache .pytest_cache song
