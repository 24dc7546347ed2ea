# Two commands set up a fresh machine: `make demo` and `make test`. Both build .venv and, where they can, ComfyUI.
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

# The pinned ComfyUI of the demo and the native/host tests: a git clone of the tag on a user's machine, or this
# tarball of it where GitHub is out of reach (these machines and CI keep it beside the clone, in ../shared).
COMFYUI_VERSION := v0.3.64
COMFYUI_REPO := https://github.com/comfyanonymous/ComfyUI
COMFYUI_ARCHIVE ?= $(wildcard ../shared/comfyui/ComfyUI-$(COMFYUI_VERSION).tar.gz)
COMFYUI_BUILD := $(CURDIR)/build/ComfyUI
# Which ComfyUI runs: $COMFYUI_DIR when set, else build/ComfyUI (made by `make comfyui`).
COMFYUI := $(or $(COMFYUI_DIR),$(COMFYUI_BUILD))
# Its requirements are in the venv once per ComfyUI folder (and again when the venv or the requirements change).
COMFYUI_REQS_STAMP := build/.comfyui-requirements$(subst /,-,$(COMFYUI))
# `make test` runs the native and host tests when a ComfyUI is at hand: given, built, or buildable from the archive.
TEST_COMFYUI := $(if $(or $(COMFYUI_DIR),$(wildcard $(COMFYUI_BUILD)/main.py),$(COMFYUI_ARCHIVE)),$(COMFYUI))

.PHONY: venv comfyui tiny lint test demo film bench workflows clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

## comfyui: ComfyUI v0.3.64 in build/ComfyUI (from $COMFYUI_ARCHIVE, else git clone), its requirements in the venv
comfyui: $(COMFYUI_REQS_STAMP)

$(COMFYUI_BUILD)/requirements.txt:
	rm -rf $(COMFYUI_BUILD) build/ComfyUI.partial
	mkdir -p build/ComfyUI.partial
	if [ -n "$(COMFYUI_ARCHIVE)" ]; then \
		tar xzf "$(COMFYUI_ARCHIVE)" -C build/ComfyUI.partial && mv build/ComfyUI.partial/ComfyUI $(COMFYUI_BUILD); \
	else \
		git clone --quiet --depth 1 --branch $(COMFYUI_VERSION) $(COMFYUI_REPO) build/ComfyUI.partial/ComfyUI \
		&& mv build/ComfyUI.partial/ComfyUI $(COMFYUI_BUILD); \
	fi
	rm -rf build/ComfyUI.partial
	touch $@

# Everything but torch (the venv keeps its own); the word boundary keeps torchsde. ComfyUI's list misses requests.
$(COMFYUI_REQS_STAMP): $(STAMP) $(COMFYUI)/requirements.txt
	grep -vE '^(torch|torchvision|torchaudio)\b' "$(COMFYUI)/requirements.txt" > build/comfyui-requirements.txt
	$(BIN)/python -m pip install -q -r build/comfyui-requirements.txt requests
	touch $@

## tiny: the seeded tiny stand-ins of every manifest model, in the real on-disk formats
tiny: $(STAMP)
	$(BIN)/python install.py --tiny --models-dir $(TINY_DIR)

## lint: pyflakes' checks over the whole tree (ruff's F rules: unused imports and variables, undefined names)
lint: $(STAMP)
	$(BIN)/ruff check --no-cache .

## test: the whole suite in three pytest processes (tests/, tests/native, tests/host), then one line of totals;
## tests/native and tests/host need a ComfyUI and are skipped (one line says so) when none is at hand
test: $(STAMP) $(if $(TEST_COMFYUI),$(COMFYUI_REQS_STAMP))
	$(if $(TEST_COMFYUI),COMFYUI_DIR="$(TEST_COMFYUI)") $(BIN)/python scripts/run_tests.py $(if $(CI),--require-comfyui) $(PYTEST_ARGS)

## demo: every shipped workflow through a real headless ComfyUI; writes outputs/<workflow>/ and lists the files
demo: $(STAMP) $(COMFYUI_REQS_STAMP)
	COMFYUI_DIR="$(COMFYUI)" $(BIN)/python scripts/demo.py --out outputs

## film: the example storyboard on two local ComfyUI servers through Ray, on the tiny models; writes outputs/film/
film: $(STAMP) $(COMFYUI_REQS_STAMP)
	$(BIN)/python install.py --tiny --models-dir $(TINY_DIR)
	$(BIN)/python scripts/film.py render example_inputs/storyboard.yaml --comfyui "$(COMFYUI)" \
		--models-dir $(TINY_DIR) --tiny --servers 2 --ray --out outputs

## bench: every benchmark script; writes bench/results.json
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

## workflows: regenerate workflows/*.json, workflows/api/*.json and the thumbnails workflows/*.jpg from workflows/source.py
workflows: $(STAMP)
	$(BIN)/python scripts/build_workflows.py

clean:
	rm -rf build outputs .pytest_cache
