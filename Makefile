# Two commands set up a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Only for this dev venv: ComfyUI users keep their own torch (requirements.txt does not pin it).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.longform-installed
TINY_DIR ?= build/tiny-models
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: venv tiny test test-host demo bench workflows clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

## tiny: the seeded tiny stand-ins of every manifest model, in the real on-disk formats
tiny: $(STAMP)
	$(BIN)/python install.py --tiny --models-dir $(TINY_DIR)

## test: the whole pytest suite (host tests skip unless COMFYUI_DIR points at a ComfyUI work tree)
test: $(STAMP)
	$(BIN)/python -m pytest -q tests

## test-host: run a real headless ComfyUI from $COMFYUI_DIR with the pack and the tiny models, queue every workflow
test-host: $(STAMP)
	@test -n "$(COMFYUI_DIR)" || { echo "Set COMFYUI_DIR to a ComfyUI work tree (v0.3.64 or later)."; exit 2; }
	grep -vE '^(torch|torchvision|torchaudio)([<>=].*)?$$' "$(COMFYUI_DIR)/requirements.txt" > $(VENV)/comfyui-requirements.txt
	$(BIN)/python -m pip install -q -r $(VENV)/comfyui-requirements.txt requests
	COMFYUI_DIR="$(COMFYUI_DIR)" $(BIN)/python -m pytest -q tests/host

## demo: the whole chain on CPU through the core library; writes outputs/
demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out outputs

## bench: every benchmark script; writes bench/results.json
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

## workflows: regenerate workflows/*.json, workflows/api/*.json and the thumbnails workflows/*.jpg from workflows/source.py
workflows: $(STAMP)
	$(BIN)/python scripts/build_workflows.py

clean:
	rm -rf build outputs .pytest_cache
