"""The one module that touches ComfyUI: the compatibility check at load, model folders, progress, interrupt, device.

Inside ComfyUI it defers to `folder_paths`, `comfy.utils.ProgressBar` and `comfy.model_management`. Outside (tests,
scripts, the demo) it falls back to plain equivalents: a models dir set by `set_models_dir()` or the
`LONGFORM_MODELS_DIR` environment variable, tqdm progress bars, an interrupt flag, and CUDA when available.
ComfyUI modules are imported inside functions so that importing this module never pulls ComfyUI in.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

logger = logging.getLogger("LongForm")

MODELS_DIR_ENV = "LONGFORM_MODELS_DIR"
OUTPUT_DIR_ENV = "LONGFORM_OUTPUT_DIR"
INPUT_DIR_ENV = "LONGFORM_INPUT_DIR"

# Model folders this pack adds to ComfyUI's own (checkpoints, controlnet, loras, clip_vision already exist there).
PACK_MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "ddpm": (".safetensors",),
    "ipadapter": (".safetensors", ".bin"),
    "insightface": (".onnx",),
    "encoders": (".safetensors",),
}

_models_dir_override: Path | None = None
_interrupt_requested = threading.Event()


class Interrupted(Exception):
    """Raised outside ComfyUI when `request_interrupt()` was called (ComfyUI raises its own exception inside)."""


def in_comfyui() -> bool:
    """True when running inside a ComfyUI server process (its `folder_paths` module is loaded)."""
    return "folder_paths" in sys.modules and "comfy.model_management" in sys.modules


# ------------------------------------------------------------------------------------------------------- compatibility

MIN_COMFYUI = "0.3.64"  # pyproject.toml's requires-comfyui; docs/compat.md says what each check below guards


def _has_parameters(function, *names: str) -> bool:
    """True when `function` takes every one of `names` (by name, or through **kwargs)."""
    import inspect

    parameters = inspect.signature(function).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return all(name in parameters or takes_kwargs for name in names)


def _attention_patches() -> bool:
    import inspect

    from comfy.ldm.modules.attention import BasicTransformerBlock, optimized_attention

    # core/comfy_ipadapter.py: ComfyUI calls an attn2 replacement from the transformer block's options, and the
    # replacement calls optimized_attention(q, k, v, heads, attn_precision=, transformer_options=).
    return ("patches_replace" in inspect.getsource(BasicTransformerBlock.forward)
            and _has_parameters(optimized_attention, "q", "k", "v", "heads", "attn_precision", "transformer_options"))


def _model_patcher() -> bool:
    from comfy.model_patcher import ModelPatcher

    return all(callable(getattr(ModelPatcher, name, None)) for name in (
        "clone", "set_model_attn1_patch", "set_model_attn2_replace", "add_patches", "get_model_object"))


def _sample() -> bool:
    import comfy.sample

    return (all(callable(getattr(comfy.sample, name, None)) for name in ("sample", "prepare_noise",
                                                                         "fix_empty_latent_channels"))
            and _has_parameters(comfy.sample.sample, "denoise", "callback", "disable_pbar", "seed"))


def _lora_key_maps() -> bool:
    import comfy.lora

    return all(callable(getattr(comfy.lora, name, None)) for name in ("model_lora_keys_unet", "model_lora_keys_clip",
                                                                       "load_lora"))


def _interrupt() -> bool:
    import comfy.model_management as mm

    # An Exception in 0.3.64, a BaseException in newer ComfyUI: the pack never catches it (tests/test_host_compat.py).
    return (isinstance(getattr(mm, "InterruptProcessingException", None), type)
            and issubclass(mm.InterruptProcessingException, BaseException)
            and callable(getattr(mm, "throw_exception_if_processing_interrupted", None)))


def _progress() -> bool:
    import comfy.utils

    # Only the bar's last value matters: newer ComfyUI throttles the updates it sends to the UI.
    return _has_parameters(comfy.utils.ProgressBar.update_absolute, "value", "total", "preview")


# What the pack uses of ComfyUI's internals: (name in the error, check). docs/compat.md has the details.
COMFYUI_FEATURES: tuple[tuple[str, Callable[[], bool]], ...] = (
    ("attention patches (BasicTransformerBlock patches_replace, optimized_attention(q, k, v, heads, "
     "attn_precision=, transformer_options=))", _attention_patches),
    ("ModelPatcher.clone / set_model_attn1_patch / set_model_attn2_replace / add_patches / get_model_object",
     _model_patcher),
    ("comfy.sample.sample(..., denoise=, callback=, disable_pbar=, seed=) / prepare_noise / "
     "fix_empty_latent_channels", _sample),
    ("LoRA key maps comfy.lora.model_lora_keys_unet / model_lora_keys_clip / load_lora", _lora_key_maps),
    ("interrupt comfy.model_management.InterruptProcessingException / throw_exception_if_processing_interrupted",
     _interrupt),
    ("progress comfy.utils.ProgressBar.update_absolute(value, total, preview)", _progress),
)


def comfyui_version() -> str:
    """The running ComfyUI's version (its comfyui_version.py), or "unknown" for a tree without one."""
    try:
        from comfyui_version import __version__
    except ImportError:
        return "unknown"
    return str(__version__)


def check_comfyui() -> str:
    """At load: log ComfyUI's version and check, by feature, every internal the pack relies on.

    Raises RuntimeError naming each missing feature (ComfyUI then reports the pack as failed to import, with this
    message). Returns the version.
    """
    version = comfyui_version()
    missing = []
    for name, check in COMFYUI_FEATURES:
        try:
            present = check()
        except (ImportError, AttributeError, TypeError, ValueError, OSError):  # gone, renamed, or no source to read
            present = False
        if not present:
            missing.append(name)
    if missing:
        raise RuntimeError(
            f"ComfyUI-LongForm cannot run on this ComfyUI ({version}): it lacks " + "; ".join(missing) + ". The pack "
            f"is tested on ComfyUI {MIN_COMFYUI} and later (docs/compat.md); update ComfyUI, or report the change.")
    logger.info("ComfyUI %s: every internal the pack uses is there.", version)
    return version


# ---------------------------------------------------------------------------------------------------------------- folders


def set_models_dir(path: str | os.PathLike | None) -> Path | None:
    """Point the pack at a models dir outside ComfyUI (tests, scripts); `None` restores the default.

    Returns the previous override, so a caller can put it back when done.
    """
    global _models_dir_override
    previous = _models_dir_override
    _models_dir_override = Path(path).resolve() if path is not None else None
    return previous


def models_dir() -> Path:
    """The root models dir: ComfyUI's, else `set_models_dir()`, else $LONGFORM_MODELS_DIR, else ./models."""
    if in_comfyui():
        import folder_paths

        return Path(folder_paths.models_dir)
    if _models_dir_override is not None:
        return _models_dir_override
    return Path(os.environ.get(MODELS_DIR_ENV, "models")).resolve()


def register_model_folders() -> None:
    """Add the pack's own model folders to ComfyUI, leaving any that another pack or the user already set."""
    import folder_paths

    for folder, extensions in PACK_MODEL_FOLDERS.items():
        if folder in folder_paths.folder_names_and_paths:
            continue
        folder_paths.folder_names_and_paths[folder] = (
            [os.path.join(folder_paths.models_dir, folder)],
            set(extensions),
        )


def model_folder_paths(folder: str) -> list[Path]:
    """Every directory searched for models of `folder` (ComfyUI may configure several)."""
    if in_comfyui():
        import folder_paths

        return [Path(p) for p in folder_paths.get_folder_paths(folder)]
    return [models_dir() / folder]


def all_model_folder_paths() -> list[Path]:
    """Every folder of every model kind (ComfyUI's, extra_model_paths.yaml's), for the path rule in core/paths.py."""
    if in_comfyui():
        import folder_paths

        return [Path(p) for kind, (paths, _) in folder_paths.folder_names_and_paths.items() if kind != "custom_nodes"
                for p in paths]
    return [models_dir()]


def list_models(folder: str, extensions: Iterable[str] = (), directories: bool = False) -> list[str]:
    """Names of the model files (or, with `directories`, model folders) in `folder`, sorted, relative to it."""
    extensions = tuple(extensions)
    names: set[str] = set()
    for base in model_folder_paths(folder):
        if not base.is_dir():
            continue
        if directories:
            names.update(p.name for p in base.iterdir() if p.is_dir())
            continue
        for path in base.rglob("*"):
            if path.is_file() and (not extensions or path.name.endswith(extensions)):
                names.add(path.relative_to(base).as_posix())
    return sorted(names)


def model_path(folder: str, name: str, field: str = "model") -> Path:
    """Resolve a model `name` inside `folder` by the pack's path rule (core/paths.py), or raise.

    FileNotFoundError names the manifest entry that provides the file and the `install.py --models` command;
    ValueError names `field` for a name the rule refuses (absolute, `..`, NUL, a symlink leading outside).
    """
    if not name:
        raise ValueError(f"No model chosen for '{field}' (folder '{folder}'): pick a file in models/{folder}/.")
    from .paths import readable_path

    return readable_path(folder, name, field)


def output_dir() -> Path:
    """ComfyUI's output folder, else $LONGFORM_OUTPUT_DIR, else ./outputs."""
    if in_comfyui():
        import folder_paths

        return Path(folder_paths.get_output_directory())
    return Path(os.environ.get(OUTPUT_DIR_ENV, "outputs")).resolve()


def input_dir() -> Path:
    """ComfyUI's input folder, else $LONGFORM_INPUT_DIR, else ./input."""
    if in_comfyui():
        import folder_paths

        return Path(folder_paths.get_input_directory())
    return Path(os.environ.get(INPUT_DIR_ENV, "input")).resolve()


def temp_dir() -> Path:
    """ComfyUI's temp folder (previews; ComfyUI empties it when it starts), else <system temp>/longform."""
    if in_comfyui():
        import folder_paths

        return Path(folder_paths.get_temp_directory())
    return Path(tempfile.gettempdir()).resolve() / "longform"


def node_classes() -> dict[str, type]:
    """Every node class ComfyUI registered (core, extras, custom packs); outside ComfyUI, ValueError."""
    if not in_comfyui():
        raise ValueError("Running a workflow in this process needs ComfyUI: use a ComfyUI server (--servers) instead.")
    import nodes

    return dict(nodes.NODE_CLASS_MAPPINGS)


def graph_builder(prefix: str):
    """ComfyUI's GraphBuilder (comfy_execution.graph_utils) with node ids starting `prefix`: a node returns
    {"result": ..., "expand": builder.finalize()} to have ComfyUI's executor run the graph as part of the prompt."""
    from comfy_execution.graph_utils import GraphBuilder

    return GraphBuilder(prefix)


def object_info(class_types: Iterable[str]) -> dict[str, Any]:
    """What ComfyUI's /object_info says of `class_types` (those registered; others left out), built from the node
    classes the way its server does: V3 nodes describe themselves, V1 nodes through INPUT_TYPES and RETURN_TYPES."""
    classes = node_classes()
    info: dict[str, Any] = {}
    for class_type in class_types:
        node_class = classes.get(class_type)
        if node_class is None:
            continue
        if hasattr(node_class, "GET_NODE_INFO_V1"):  # a V3 io.ComfyNode
            info[class_type] = node_class.GET_NODE_INFO_V1()
        else:
            info[class_type] = {"input": node_class.INPUT_TYPES(), "output": node_class.RETURN_TYPES}
    return info


# ------------------------------------------------------------------------------------------------------ device, interrupt


def torch_device() -> torch.device:
    """The device ComfyUI chose, else CUDA when available, else CPU."""
    if in_comfyui():
        import comfy.model_management

        return comfy.model_management.get_torch_device()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def request_interrupt() -> None:
    """Ask the running job to stop at its next `check_interrupt()` (outside ComfyUI; ComfyUI has its own button)."""
    _interrupt_requested.set()


def clear_interrupt() -> None:
    """Forget an earlier `request_interrupt()`."""
    _interrupt_requested.clear()


def check_interrupt() -> None:
    """Raise if the user asked to stop. Call it once per step, frame or epoch of every long loop."""
    if in_comfyui():
        import comfy.model_management

        comfy.model_management.throw_exception_if_processing_interrupted()
        return
    if _interrupt_requested.is_set():
        _interrupt_requested.clear()
        raise Interrupted("Interrupted at the user's request.")


# --------------------------------------------------------------------------------------------------------------- memory

ENCODER = "encoder"  # image/text encoders: ComfyUI's text-encoder devices and dtype
DIFFUSION = "diffusion"  # a diffusion network that samples: ComfyUI's UNet devices and dtype


class ManagedModel:
    """A model the pack loads itself, under ComfyUI's memory management when inside ComfyUI.

    Inside ComfyUI the module is wrapped in a `comfy.model_patcher.ModelPatcher` and `load()` goes through
    `comfy.model_management.load_models_gpu`, so ComfyUI makes room before loading it and may evict it (Unload Models,
    POST /free, other models' needs) back to the offload device; `dtype` follows ComfyUI's policy for the `role`
    (fp32 on the CPU, where ComfyUI itself computes in fp32). Outside ComfyUI the module sits on `torch_device()` in
    fp32. Call `load()` before every use: the model may have been moved since.
    """

    def __init__(self, module: torch.nn.Module, role: str, compute_dtype: torch.dtype | None = None):
        """`compute_dtype`, when given, replaces the role's dtype policy (for a network whose reference numbers are
        computed in fp32, such as RAFT's iterative flow)."""
        if role not in (ENCODER, DIFFUSION):
            raise ValueError(f"role must be '{ENCODER}' or '{DIFFUSION}'; got '{role}'.")
        self.patcher = None
        if not in_comfyui():
            self.dtype, self.device = torch.float32, torch_device()
            module.to(device=self.device, dtype=self.dtype)
            return
        import comfy.model_management as mm
        import comfy.model_patcher

        if role == ENCODER:
            load_device, offload_device = mm.text_encoder_device(), mm.text_encoder_offload_device()
            dtype = mm.text_encoder_dtype(load_device)
        else:
            load_device, offload_device = mm.get_torch_device(), mm.unet_offload_device()
            dtype = mm.unet_dtype(load_device, sum(p.numel() for p in module.parameters()))
        # The pack's modules have no per-layer casting (ComfyUI's manual_cast ops): they compute in their own dtype.
        self.dtype = torch.float32 if mm.is_device_cpu(load_device) or dtype not in (torch.float16, torch.bfloat16) else dtype
        self.dtype = compute_dtype or self.dtype
        self.device = load_device
        module.to(device=offload_device, dtype=self.dtype)
        # The patcher writes its bookkeeping (`device`, ...) onto the module it holds, which transformers' models
        # refuse (their `device` is a read-only property): it holds a plain container instead.
        holder = torch.nn.Module()
        holder.wrapped = module
        self.patcher = comfy.model_patcher.ModelPatcher(holder, load_device=load_device, offload_device=offload_device)

    def load(self) -> torch.device:
        """Put the model on its compute device (inside ComfyUI: through its model management); return that device."""
        if self.patcher is not None:
            import comfy.model_management

            comfy.model_management.load_models_gpu([self.patcher])
        return self.device


# The pack's own caches (loaded encoders, face analyzers, tokenizers): each registers its clear function here, and
# they are released when ComfyUI unloads its models (POST /free with unload_models, the Unload Models command).
_RELEASERS: list[Callable[[], None]] = []


def release_on_unload(release: Callable[[], None]) -> Callable[[], None]:
    """Register a cache's `release` (its clear function) to run whenever ComfyUI unloads all models; returns it."""
    _RELEASERS.append(release)
    return release


def release_caches() -> None:
    """Empty every cache registered with `release_on_unload` (their models are freed once nothing else holds them)."""
    for release in _RELEASERS:
        release()


def hook_model_unloading() -> None:
    """Inside ComfyUI: wrap `comfy.model_management.unload_all_models` (what POST /free with unload_models and the
    Unload Models command call) so the pack's caches are released with ComfyUI's models. Idempotent."""
    import comfy.model_management as mm

    original = mm.unload_all_models
    if getattr(original, "releases_longform_caches", False):
        return

    @functools.wraps(original)
    def unload_all_models(*args, **kwargs):
        release_caches()
        return original(*args, **kwargs)

    unload_all_models.releases_longform_caches = True
    mm.unload_all_models = unload_all_models


def make_room(bytes_needed: int, device: torch.device) -> None:
    """Inside ComfyUI, have its model management free `bytes_needed` on `device` (evicting other models) before the
    pack puts working memory there itself, as training does; nothing outside ComfyUI."""
    if in_comfyui():
        import comfy.model_management

        comfy.model_management.free_memory(bytes_needed, device)


# --------------------------------------------------------------------------------------------------------------- progress


class _OpenBars(threading.local):
    """This thread's open bars, outermost first: only the outermost one draws."""

    def __init__(self):
        self.stack: list[Progress] = []


_open_bars = _OpenBars()


class Progress:
    """One progress bar for a whole job: ComfyUI's bar in the UI, tqdm in a terminal. Checks interrupt on update.

    Use as a context manager: `with host.progress(total, "sampling") as bar: ... bar.update()`. A bar opened inside
    another (the film report encoding its frames batch by batch, LF Film animating a scene) draws nothing: the job
    shows one bar from 0 to its end, not one restarting bar per inner step. Inner bars still check interrupt, and
    their preview images go to the outermost bar.
    """

    def __init__(self, total: int, desc: str = "", node_id: str | None = None):
        self.total = max(int(total), 1)
        self.current = 0
        self._comfy_bar = None
        self._tqdm = None
        self._outer = _open_bars.stack[0] if _open_bars.stack else None
        _open_bars.stack.append(self)
        if self._outer is not None:
            return
        if in_comfyui():
            import comfy.utils

            self._comfy_bar = comfy.utils.ProgressBar(self.total, node_id=node_id)
        elif os.environ.get("LONGFORM_PROGRESS", "1") != "0":
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=self.total, desc=desc or None, leave=False, file=sys.stderr)

    def update(self, steps: int = 1, preview_image=None) -> None:
        """Advance by `steps`; `preview_image` (a PIL image) is shown in ComfyUI's node while it runs."""
        self.update_absolute(self.current + steps, preview_image)

    def update_absolute(self, value: int, preview_image=None) -> None:
        """Set the bar to `value` of `total`, then raise if the user interrupted."""
        value = min(int(value), self.total)
        delta, self.current = value - self.current, value
        if self._outer is not None and preview_image is not None:
            self._outer.update_absolute(self._outer.current, preview_image)
        if self._comfy_bar is not None:
            preview = ("JPEG", preview_image, 512) if preview_image is not None else None
            self._comfy_bar.update_absolute(value, self.total, preview)
        if self._tqdm is not None and delta:
            self._tqdm.update(delta)
        check_interrupt()

    def close(self) -> None:
        """Close the bar (ComfyUI's needs nothing) and take it off this thread's open bars."""
        if self in _open_bars.stack:
            _open_bars.stack.remove(self)
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int, desc: str = "", node_id: str | None = None) -> Progress:
    """A `Progress` bar of `total` steps; inside ComfyUI it shows on the running node, or on node `node_id` (a node
    that expanded into others: LF Film's bar over its film, updated by the nodes it expanded into)."""
    return Progress(total, desc, node_id)


# ------------------------------------------------------------------------------------------------------------------ LoRA


def apply_lora(model, clip, tensors: dict, strength_model: float, strength_clip: float) -> tuple:
    """ComfyUI's own LoRA application (its key maps, `comfy.lora.load_lora`, `add_patches`) on clones of MODEL and
    CLIP, for a LoRA already under kohya names (`core/lora.py`). The inputs are never modified; as in core Load LoRA,
    a strength of 0 still patches (with no effect).

    A module whose up . down product does not fit the weight it names is left out (ComfyUI would log and skip it
    while sampling). Returns (model, clip, the LoRA module names ComfyUI placed, misfits: module name -> what does not
    fit); model or clip may be None (not adapted).
    """
    import comfy.lora
    import comfy.utils

    from .lora import shape_misfit, without

    key_map: dict[str, str] = {}
    misfits: dict[str, str] = {}
    for holder, owner, map_keys in ((model, "model", comfy.lora.model_lora_keys_unet),
                                    (clip, "cond_stage_model", comfy.lora.model_lora_keys_clip)):
        if holder is None:
            continue
        module = getattr(holder, owner)
        keys = map_keys(module, {})
        key_map.update(keys)
        for name, target in keys.items():
            if f"{name}.lora_down.weight" in tensors and isinstance(target, str):
                problem = shape_misfit(tensors, name, tuple(comfy.utils.get_attr(module, target).shape))
                if problem is not None:
                    misfits[name] = problem
    patches = comfy.lora.load_lora(without(tensors, set(misfits)), key_map, log_missing=False)
    patched: set[str] = set()
    if model is not None:
        model = model.clone()
        patched.update(model.add_patches(patches, strength_model))
    if clip is not None:
        clip = clip.clone()
        patched.update(clip.add_patches(patches, strength_clip))
    placed = {name for name, weight in key_map.items() if weight in patched and f"{name}.lora_down.weight" in tensors
              and name not in misfits}
    return model, clip, placed, misfits
