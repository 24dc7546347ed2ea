"""Training, checkpoints and loading for the DDPM family.

`train(config, name=...)` trains a model on the configured dataset, checkpointing to `<models>/ddpm/`:
- `<name>.safetensors`: the EMA weights used for sampling, with the full config in the file's metadata;
- `<name>.json`: the same config, human-readable, with a summary of the run;
- `<name>.train.pt`: the training state (raw and EMA weights, optimizer, step, loss history, RNG state). It is written
  every `checkpoint_every` steps and when the run stops early (interrupt), so `train(..., resume=True)` continues
  the very same loss curve.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from safetensors.torch import save_file

from .. import host
from ..model_files import load_pickle, load_safetensors, model_file_error, parse_json, read_json, safetensors_header
from ..paths import safe_name
from ..tiny_marker import warn_if_tiny
from .data import LabelledImages, load_dataset
from .diffusion import PREDICTIONS, SCHEDULES, Diffusion
from .model import EMA, ModelConfig, UNet

logger = logging.getLogger("LongForm")

FOLDER = "ddpm"
FORMAT = "longform-ddpm"
CONFIG_KEY = "longform_ddpm_config"
# A text embedder: prompts -> [N, D] float tensor (frozen; e.g. a probe encoder's encode_texts).
TextEmbedder = Callable[[list[str]], torch.Tensor]
# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("steps", "checkpoint_every")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults are the tuned digits recipe (see docs/ddpm.md)."""

    dataset: str = "digits"
    image_size: int = 8
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 2e-3
    seed: int = 0
    schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "epsilon"
    cond_drop: float = 0.1
    ema_decay: float = 0.999
    warmup_steps: int = 100
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 1
    conditioning: str = "label"
    text_encoder: dict[str, str] = field(default_factory=dict)
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        checks = [
            ("steps", self.steps >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("learning_rate", math.isfinite(self.learning_rate) and self.learning_rate > 0, "a finite number above 0"),
            ("cond_drop", 0 <= self.cond_drop < 1, "in [0, 1)"),
            ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1)"),
            ("image_size", self.image_size >= 2, "at least 2"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} must be {rule}; got {getattr(self, name)}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got '{self.schedule}'.")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}; got '{self.prediction}'.")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        return data


class DDPMModel:
    """A trained model ready to sample: the network (EMA weights), its diffusion process and its configs.

    Once it samples, the network's memory is managed by the host (inside ComfyUI: its model management, which may
    evict it, and whose dtype policy then applies); until then it stays as trained or loaded, in fp32.
    """

    def __init__(self, network: UNet, diffusion: Diffusion, train_config: dict, path: Path | None = None,
                 text_embedder: TextEmbedder | None = None):
        self.network = network.eval()
        self.managed: host.ManagedModel | None = None
        self.diffusion = diffusion
        self.train_config = train_config
        self.path = path
        self.text_embedder = text_embedder

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    def load(self, device: torch.device | str | None = None) -> torch.device:
        """Put the network and its schedule on `device`, or where the host's memory management places it; return it."""
        if device is None:
            self.managed = self.managed or host.ManagedModel(self.network, host.DIFFUSION)
            device = self.managed.load()
        else:
            device = torch.device(device)
            self.network.to(device)
        self.diffusion.to(device)
        return device

    def embed(self, conditions: list[str]) -> torch.Tensor:
        """The network's condition input for condition strings: label indices, or text embeddings."""
        if self.config.conditioning == "label":
            index = {name: i for i, name in enumerate(self.config.class_names)}
            unknown = sorted({c for c in conditions if c not in index})
            if unknown:
                raise ValueError(
                    f"unknown label(s) {unknown}: this model knows {self.config.class_names}. Use one of those, one "
                    "per line, optionally as 'label x N'."
                )
            return torch.tensor([index[c] for c in conditions], dtype=torch.long)
        if self.text_embedder is None:
            raise ValueError(
                f"this model is text-conditioned on {self.config.text_encoder or 'a text encoder'}, but no text "
                "encoder is attached: load it with LF_DDPMLoader (which loads its encoder) or pass text_embedder."
            )
        return embed_texts(self.text_embedder, conditions, self.config.text_dim)


@dataclass
class TrainResult:
    """A finished (or resumed-and-finished) run: the model, the full loss history, and where it was saved."""

    model: DDPMModel
    losses: list[float]
    seconds: float
    path: Path | None


def embed_texts(embedder: TextEmbedder, texts: list[str], expected_dim: int | None = None) -> torch.Tensor:
    """Call a text embedder and check its output is [len(texts), D] (D = expected_dim when given)."""
    vectors = torch.as_tensor(embedder(list(texts))).float().cpu()
    if vectors.ndim != 2 or len(vectors) != len(texts) or (expected_dim and vectors.shape[1] != expected_dim):
        raise ValueError(
            f"the text encoder returned shape {tuple(vectors.shape)} for {len(texts)} prompts; expected "
            f"[{len(texts)}, {expected_dim or 'D'}]. Use the encoder the model was trained with."
        )
    return vectors


def probe_text_embedder(spec: dict[str, str]) -> TextEmbedder:
    """A frozen text embedder from the probe family's encoder files: spec = {"kind": ..., "filename": ...}."""
    from ..probe import load_encoder

    if not spec.get("kind") or not spec.get("filename"):
        raise ValueError(f"text_encoder must name a 'kind' and a 'filename'; got {spec}.")
    encoder = load_encoder(spec["kind"], spec["filename"])

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.as_tensor(encoder.encode_texts(list(texts)).vectors)

    return embed


def model_folder() -> Path:
    """Where trained models are written: the first of ComfyUI's `ddpm` model folders."""
    return host.model_folder_paths(FOLDER)[0]


def checkpoint_name(name: str, field: str = "name") -> str:
    """A checkpoint name without its extension, checked by the path rule (core/paths.py) to be a single file name."""
    return safe_name(str(name).strip().removesuffix(".safetensors"), field, subfolders=False)


def learning_rate_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up to the learning rate, then a cosine decay to a tenth of it at the last step."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def build_model_config(config: TrainConfig, data: LabelledImages, text_dim: int) -> ModelConfig:
    """The network's shape for a training config and its data."""
    return ModelConfig(
        image_size=config.image_size,
        channels=data.images.shape[1],
        base_channels=config.base_channels,
        channel_mults=config.channel_mults,
        num_res_blocks=config.num_res_blocks,
        conditioning=config.conditioning,
        class_names=data.class_names,
        text_dim=text_dim,
        text_encoder=dict(config.text_encoder),
    )


def _state_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.train.pt"


def _check_same_config(saved: dict, current: dict, where: Path) -> None:
    differing = {
        key: (saved.get(key), value)
        for key, value in current.items()
        if key not in RESUMABLE_CHANGES and saved.get(key) != value
    }
    if differing:
        details = "; ".join(f"{key}: saved {old!r}, now {new!r}" for key, (old, new) in differing.items())
        raise ValueError(
            f"the checkpoint {where.name} is from another config ({details}). Resume with the same settings, "
            "choose another name, or turn resume off to start over."
        )


def train(config: TrainConfig, name: str = "", text_embedder: TextEmbedder | None = None, resume: bool = True,
          callback: Callable[[int, float], None] | None = None, device: torch.device | str | None = None,
          folder: Path | None = None) -> TrainResult:
    """Train a conditional DDPM; with a `name`, checkpoint into the ddpm model folder and resume from it.

    `callback(step, loss)` runs after every step. An interrupt (ComfyUI's button or `host.request_interrupt()`)
    stops the run after the current step; the state is saved first, so `train(same config, same name)` resumes it.
    For text conditioning, `text_embedder` maps prompts to frozen embeddings; the training prompts are the class names.
    """
    device = torch.device(device) if device is not None else host.torch_device()
    name = checkpoint_name(name) if name else ""
    folder = folder if folder is not None else model_folder()
    data = load_dataset(config.dataset, config.image_size)
    if config.conditioning == "text":
        if text_embedder is None:
            raise ValueError("conditioning 'text' needs a text encoder: choose one (models/encoders) or use 'label'.")
        condition_table = embed_texts(text_embedder, data.class_names)
    else:
        condition_table = None
    model_config = build_model_config(config, data, 0 if condition_table is None else condition_table.shape[1])

    with torch.inference_mode(False), torch.enable_grad():
        # Seed the weights without disturbing the caller's global RNG; all training randomness uses `generator`.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            network = UNet(model_config)
        ema = EMA(network, config.ema_decay)
        # Weights, gradients, two AdamW moments and the EMA copy; ComfyUI evicts other models to make room.
        host.make_room(5 * sum(p.numel() * p.element_size() for p in network.parameters()), device)
        network.to(device).train()
        ema.model.to(device)
        diffusion = Diffusion(config.schedule, config.timesteps, config.prediction).to(device)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=0.0)
        generator = torch.Generator().manual_seed(config.seed)
        step, losses, seconds_before = 0, [], 0.0

        state_path = _state_path(folder, name) if name else None
        if resume and state_path is not None and state_path.exists():
            state = load_pickle(state_path, "resume", fix="turn 'resume' off to train that model from the start")
            _check_same_config(state["config"], config.to_dict(), state_path)
            network.load_state_dict(state["network"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            step, losses, seconds_before = state["step"], list(state["losses"]), state["seconds"]
            logger.info("Resuming %s at step %d of %d.", name, step, config.steps)

        def save_state() -> None:
            if state_path is None:
                return
            state_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "config": config.to_dict(),
                    "network": network.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "step": step,
                    "losses": losses,
                    "seconds": seconds_before + time.perf_counter() - started,
                },
                state_path,
            )

        images, labels = data.images.to(device), data.labels.to(device)
        table = condition_table.to(device) if condition_table is not None else None
        started = time.perf_counter()
        try:
            with host.progress(config.steps, "training DDPM") as bar:
                bar.update_absolute(step)
                while step < config.steps:
                    index = torch.randint(0, len(labels), (config.batch_size,), generator=generator).to(device)
                    t = torch.randint(0, config.timesteps, (config.batch_size,), generator=generator).to(device)
                    noise = torch.randn((config.batch_size, *images.shape[1:]), generator=generator).to(device)
                    dropped = (torch.rand(config.batch_size, generator=generator) < config.cond_drop).to(device)
                    cond = labels[index] if table is None else table[labels[index]]

                    def denoise(x_t: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
                        return network(x_t, timestep, cond, dropped)

                    loss = diffusion.loss(denoise, images[index], t, noise)
                    for group in optimizer.param_groups:
                        group["lr"] = learning_rate_at(config, step)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                    optimizer.step()
                    ema.update(network)
                    step += 1
                    losses.append(loss.item())
                    if callback is not None:
                        callback(step, losses[-1])
                    if step % config.checkpoint_every == 0:
                        save_state()
                    bar.update()
        except BaseException:
            # Interrupted (or failed) between steps: keep what was learnt so the run can resume.
            save_state()
            raise
        save_state()
        seconds = seconds_before + time.perf_counter() - started

    ema.model.eval()
    model = DDPMModel(ema.model, diffusion, config.to_dict())
    path = None
    if name:
        path = save_model(model, folder / f"{name}.safetensors", summary={"steps_done": step, "seconds": seconds,
                                                                          "final_loss": losses[-1] if losses else None})
        model.path = path
    model.text_embedder = text_embedder
    return TrainResult(model, losses, seconds, path)


def loss_curve_image(losses: list[float], title: str = "DDPM training loss") -> Image.Image:
    """The loss per step (faint) and its 100-step moving average, on a log scale."""
    import numpy as np

    from ..images import figure_to_pil, new_figure

    if not losses:
        raise ValueError("no losses to plot: the run made no training step.")
    figure = new_figure(7, 3.2)
    axes = figure.add_subplot(1, 1, 1)
    values = np.asarray(losses, dtype=np.float64)
    axes.plot(np.arange(1, len(values) + 1), values, color="tab:blue", alpha=0.25, linewidth=0.8, label="per step")
    window = min(100, len(values))
    average = np.convolve(values, np.ones(window) / window, mode="valid")
    axes.plot(np.arange(window, len(values) + 1), average, color="tab:blue", linewidth=1.8,
              label=f"{window}-step mean (last {average[-1]:.4f})")
    axes.set(xlabel="step", ylabel="MSE loss", title=title, yscale="log")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    return figure_to_pil(figure)


def save_model(model: DDPMModel, path: Path, summary: dict | None = None) -> Path:
    """Write the EMA weights as .safetensors (config in its metadata) and the config as JSON beside them."""
    document = {
        "format": FORMAT,
        "model": model.config.to_dict(),
        "diffusion": {
            "schedule": model.diffusion.schedule,
            "timesteps": model.diffusion.timesteps,
            "prediction": model.diffusion.prediction,
        },
        "training": model.train_config,
        "summary": summary or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {key: value.detach().cpu().contiguous() for key, value in model.network.state_dict().items()}
    save_file(weights, str(path), metadata={CONFIG_KEY: json.dumps(document)})
    path.with_suffix(".json").write_text(json.dumps(document, indent=2))
    return path


RETRAIN = "train it again with LF DDPM Train (or choose a file it wrote)"


def load_model(path: Path | str, text_embedder: TextEmbedder | None = None, field: str = "model_file") -> DDPMModel:
    """Rebuild a saved model; ValueError (naming `field`, the file and the fix) when the file or its JSON sidecar is
    damaged or hostile, is not a LongForm DDPM, or holds weights of another config.

    The network described by the metadata is first built on the meta device and its shapes compared with the file's,
    so a config that asks for a huge network costs no memory.
    """
    path = Path(path)
    shapes, metadata = safetensors_header(path, field, RETRAIN)
    warn_if_tiny(metadata, path)
    if CONFIG_KEY not in metadata:
        raise model_file_error(field, path, f"is not a LongForm DDPM checkpoint (its metadata has no '{CONFIG_KEY}')",
                               RETRAIN)
    document = parse_json(metadata[CONFIG_KEY], field, path, fix=RETRAIN, what="config")
    try:
        model_config = ModelConfig.from_dict(document["model"])
        diffusion_config = dict(document["diffusion"])
        if not (1 <= model_config.num_res_blocks <= 8 and 1 <= len(model_config.channel_mults) <= 8
                and 1 <= model_config.base_channels <= 2048 and model_config.num_classes <= 100_000):
            raise ValueError("its network is larger than any LF DDPM Train makes")
        with torch.device("meta"):
            expected = {key: tuple(value.shape) for key, value in UNet(model_config).state_dict().items()}
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise model_file_error(field, path, f"has a malformed config in its metadata ({error})", RETRAIN) from None
    beside = path.with_suffix(".json")
    if beside.exists():
        other = read_json(beside, field, fix=f"delete {beside.name}: the weights carry their own config")
        if not isinstance(other, dict) or other.get("model") != document["model"] \
                or other.get("diffusion") != document["diffusion"]:
            raise model_file_error(field, beside, f"describes another config than the weights in {path.name} (it was "
                                   "overwritten or copied from another model)", "delete it or restore the matching "
                                   "one; the weights' own copy is used when no JSON is present")
    mismatched = sorted(key for key in set(expected) | set(shapes) if expected.get(key) != shapes.get(key))
    if mismatched:
        raise model_file_error(field, path, f"has weights that are from another config than its metadata says "
                               f"({len(mismatched)} tensors differ, e.g. {mismatched[:3]})", RETRAIN)
    weights, _ = load_safetensors(path, field, fix=RETRAIN)
    network = UNet(model_config)
    network.load_state_dict(weights)
    try:
        diffusion = Diffusion(**diffusion_config)
    except TypeError as error:
        raise model_file_error(field, path, f"has a malformed diffusion config ({error})", RETRAIN) from None
    return DDPMModel(network, diffusion, document.get("training", {}), path, text_embedder)
