"""The animator: a clip made frame by frame, each frame img2img from the previous one, prompts from a schedule.

Every frame runs diffusers' StableDiffusionControlNetImg2ImgPipeline, built from the stylizer pipeline's components
(same UNet, ControlNet, LoRA, VAE, text encoder and IP-Adapter), on the previous frame (the first frame starts from the
input image), with the scribble map (one for all frames or one per frame), the text embedding the schedule blends
for that frame, and that frame's denoising strength. Three temporal-consistency switches, each measurable on its own:

- cross-frame attention (Text2Video-Zero, Khachatryan et al. 2023): every self-attention layer of the UNet
  attends to the keys and values that frame 0 had at the same denoising step (recorded while frame 0 is made);
- colour matching: each frame's LAB mean and standard deviation are moved to the input image's;
- shared noise: the starting noise mixes a clip-wide noise with the frame's own, sqrt(w) a + sqrt(1 - w) b (a mixed
  noise prior as in PYoCo, Ge et al. 2023); it matters in per-frame seed mode (a fixed seed already repeats noise).

Frames are quantised to 8 bits before they seed the next frame, so a run resumed from PNG files on disk continues
exactly as an uninterrupted one (frame RNGs come from seed + frame index; frame 0 is remade to refill the attention
cache).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import host
from .checks import check_finite
from .schedule import PromptSchedule, blend, parse_values
from .video import StreamingClip

logger = logging.getLogger("LongForm")

SEED_MODES = ("fixed", "per frame")
_FRAME_PIPELINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class AnimateSettings:
    """How each frame is made. `strength` is one number or `frame: value` lines (linear between them)."""

    steps: int = 20
    guidance: float = 7.0
    strength: str = "0.5"
    controlnet_scale: float = 1.0
    seed: int = 0
    seed_mode: str = "per frame"
    cross_frame_attention: bool = True
    color_match: bool = True
    shared_noise: float = 0.5

    def check(self) -> None:
        """ValueError naming the first bad field (NaN and infinity included)."""
        for name in ("guidance", "controlnet_scale", "shared_noise"):
            check_finite(getattr(self, name), name)
        if self.steps < 1:
            raise ValueError(f"'steps' is {self.steps}; give at least 1 denoising step.")
        if self.seed_mode not in SEED_MODES:
            raise ValueError(f"'seed_mode' is {self.seed_mode!r}; choose one of {', '.join(SEED_MODES)}.")
        if not 0.0 <= self.shared_noise <= 1.0:
            raise ValueError(f"'shared_noise' is {self.shared_noise}; give 0 (off) to 1 (the same noise every frame).")


@dataclass
class AnimationResult:
    """Frames (all of them, or the preview batch when streaming) as uint8 [N, H, W, 3], and the files written."""

    frames: np.ndarray
    frame_count: int
    clip: StreamingClip | None = None


# ------------------------------------------------------------------------------------------------ cross-frame attention


class AnchorStore:
    """Keys and values of frame 0's self-attention layers, per denoising timestep: recorded, then replayed."""

    def __init__(self):
        self.mode = "off"  # "record" while frame 0 is made, "replay" for later frames
        self.timestep: int | None = None
        self.cache: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self._timesteps: set[int] = set()

    def set_timestep(self, timestep) -> None:
        self.timestep = int(timestep.flatten()[0].item() if torch.is_tensor(timestep) else timestep)

    def clear(self) -> None:
        """Forget every recorded key and value (the end of a clip)."""
        self.cache.clear()
        self._timesteps.clear()

    def record(self, layer: str, key: torch.Tensor, value: torch.Tensor) -> None:
        self.cache[(layer, self.timestep)] = (key, value)
        self._timesteps.add(self.timestep)

    def replay(self, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame 0's keys and values at this timestep, or at the nearest one it ran (other strengths skip steps)."""
        timestep = self.timestep if self.timestep in self._timesteps else min(
            self._timesteps, key=lambda t: abs(t - self.timestep)
        )
        return self.cache[(layer, timestep)]


class CrossFrameAttnProcessor:
    """Self-attention whose keys and values come from frame 0 at the same step (Text2Video-Zero).

    Queries stay the frame's own, so its layout follows its own latent while appearance is pulled from frame 0.
    """

    def __init__(self, store: AnchorStore, layer: str):
        self.store, self.layer = store, layer

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        spatial = hidden_states.shape if hidden_states.ndim == 4 else None
        if spatial is not None:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if self.store.mode == "replay":
            key, value = self.store.replay(self.layer)
        else:
            key, value = attn.to_k(hidden_states), attn.to_v(hidden_states)
            if self.store.mode == "record":
                self.store.record(self.layer, key, value)
        query, key, value = (_split_heads(tensor, attn.heads) for tensor in (query, key, value))
        if attn.norm_q is not None:
            query, key = attn.norm_q(query), attn.norm_k(key)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(out.shape[0], -1, out.shape[1] * out.shape[-1]).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if spatial is not None:
            out = out.transpose(1, 2).reshape(spatial)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _split_heads(tensor: torch.Tensor, heads: int) -> torch.Tensor:
    """[batch, tokens, heads x dim] -> [batch, heads, tokens, dim]."""
    return tensor.view(tensor.shape[0], -1, heads, tensor.shape[-1] // heads).transpose(1, 2)


class _CrossFrameAttention:
    """Context manager: frame-0 attention on the UNet's self-attention layers, the original processors restored after."""

    def __init__(self, unet, store: AnchorStore):
        self.unet, self.store = unet, store
        self._original = None
        self._hook = None

    def __enter__(self) -> AnchorStore:
        self._original = dict(self.unet.attn_processors)
        patched = {
            name: CrossFrameAttnProcessor(self.store, name) if name.endswith("attn1.processor") else processor
            for name, processor in self._original.items()
        }
        self.unet.set_attn_processor(patched)
        self._hook = self.unet.register_forward_pre_hook(self._timestep_hook, with_kwargs=True)
        return self.store

    def _timestep_hook(self, module, args, kwargs):
        self.store.set_timestep(kwargs["timestep"] if "timestep" in kwargs else args[1])

    def __exit__(self, *exc) -> None:
        self._hook.remove()
        self.unet.set_attn_processor(self._original)


# ---------------------------------------------------------------------------------------------------------- the frame


@functools.lru_cache(maxsize=1)
def _frame_pipeline_class():
    """StableDiffusionControlNetImg2ImgPipeline whose starting noise the animator chooses (shared-noise switch)."""
    from diffusers import StableDiffusionControlNetImg2ImgPipeline
    from diffusers.pipelines.controlnet.pipeline_controlnet_img2img import retrieve_latents

    class FramePipeline(StableDiffusionControlNetImg2ImgPipeline):
        """The stock img2img pipeline, except that the VAE latent is its mean and the noise is `self.frame_noise`."""

        frame_noise: torch.Tensor | None = None

        def prepare_latents(self, image, timestep, batch_size, num_images_per_prompt, dtype, device, generator=None):
            image = image.to(device=device, dtype=dtype)
            latents = retrieve_latents(self.vae.encode(image), sample_mode="argmax") * self.vae.config.scaling_factor
            noise = self.frame_noise.to(device=device, dtype=dtype)
            return self.scheduler.add_noise(latents, noise, timestep)

    return FramePipeline


def diffusers_pipeline(pipeline):
    """The diffusers pipeline inside a LongForm pipeline wrapper (or the pipeline itself)."""
    inner = getattr(pipeline, "pipe", pipeline)
    if not hasattr(inner, "components") or not hasattr(inner, "controlnet"):
        raise ValueError(
            f"'pipeline' is a {type(pipeline).__name__}, not a ControlNet pipeline: connect the stylizer's pipeline output."
        )
    return inner


def img2img_pipeline(pipeline):
    """An img2img ControlNet pipeline sharing every component (weights, adapters, scheduler) with `pipeline`.

    Cached per source pipeline (weakly: it goes when the source does); it holds no weights of its own.
    """
    inner = diffusers_pipeline(pipeline)
    frame_pipe = _FRAME_PIPELINES.get(inner)
    if frame_pipe is None:
        frame_pipe = _frame_pipeline_class().from_pipe(inner)
        frame_pipe.set_progress_bar_config(disable=True)
        _FRAME_PIPELINES[inner] = frame_pipe
    return frame_pipe


def prepared_frames(pipeline, frame_pipe):
    """The context a clip runs in: for a LongForm pipeline, its `prepared()` (scheduler, LoRA weights, identity lock and
    other extensions) applied to the img2img pipe; for a bare diffusers pipeline, nothing. Yields extra call kwargs."""
    if hasattr(pipeline, "prepared") and dataclasses.is_dataclass(pipeline):
        return dataclasses.replace(pipeline, pipe=frame_pipe).prepared()
    return contextlib.nullcontext({})


def _noise_generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(int(seed) % (2**63))


def frame_seed(settings: AnimateSettings, frame: int) -> int:
    """The seed of `frame`'s random numbers: the seed itself (fixed mode) or seed + frame index (per frame)."""
    return settings.seed if settings.seed_mode == "fixed" else settings.seed + frame


def frame_noise(settings: AnimateSettings, frame: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Starting noise of `frame`: its own (from its seed), mixed with the clip-wide noise when shared."""
    own = torch.randn(shape, generator=_noise_generator(frame_seed(settings, frame)))
    weight = settings.shared_noise
    if weight == 0.0:
        return own
    # The clip-wide noise is the second draw from the clip's seed: every frame's own noise is a first draw.
    shared = torch.randn((2, *shape), generator=_noise_generator(settings.seed))[1]
    return math.sqrt(weight) * shared + math.sqrt(1.0 - weight) * own


def color_match(frame: np.ndarray, reference_stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Move `frame`'s (float RGB 0..1) LAB mean and std per channel to `reference_stats` (one affine map per channel)."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2LAB)
    mean, std = (values.ravel() for values in cv2.meanStdDev(lab))
    target_mean, target_std = reference_stats
    scale = target_std / np.maximum(std, 1e-4)
    affine = np.hstack([np.diag(scale), (target_mean - mean * scale)[:, None]]).astype(np.float32)
    rgb = cv2.cvtColor(cv2.transform(lab, affine), cv2.COLOR_LAB2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def lab_stats(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel LAB mean and standard deviation of a float RGB frame."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2LAB)
    mean, std = cv2.meanStdDev(lab)
    return mean.ravel(), std.ravel()


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _as_chw(frame: np.ndarray, device, dtype) -> torch.Tensor:
    """uint8 or float [H, W, 3] as a [1, 3, H, W] tensor in 0..1."""
    tensor = torch.from_numpy(np.array(frame))  # a copy: frames may be read-only views (PIL, PNG reloads)
    tensor = tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    return tensor.permute(2, 0, 1).unsqueeze(0).to(device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------------------- animator


class Animator:
    """Makes the frames of one clip; `run()` drives it, `make_frame()` is one frame."""

    def __init__(self, pipeline, first_frame: np.ndarray, control: np.ndarray, schedule: PromptSchedule,
                 settings: AnimateSettings):
        settings.check()
        self.settings, self.schedule = settings, schedule
        self.pipeline = pipeline
        self.pipe = img2img_pipeline(pipeline)
        self.device = self.pipe._execution_device
        self.dtype = self.pipe.unet.dtype
        height, width = first_frame.shape[:2]
        factor = self.pipe.vae_scale_factor
        if height % factor or width % factor:
            raise ValueError(f"'first_frame' is {width}x{height}; both sides must be multiples of {factor} "
                             "(resize or crop it, e.g. to 512x512).")
        if control.shape[0] not in (1, schedule.frame_count):
            raise ValueError(f"'control' has {control.shape[0]} maps for {schedule.frame_count} frames: give one map "
                             "for every frame, or a single map for all.")
        self.first_frame, self.control = first_frame, control
        self.strengths = parse_values(settings.strength, schedule.frame_count, schedule.fps, 0.0, 1.0, "strength")
        for frame, strength in enumerate(self.strengths):
            if int(settings.steps * strength) < 1:
                raise ValueError(f"'strength' at frame {frame} is {strength:g}: with {settings.steps} steps that is no "
                                 f"denoising step; raise it to at least {1 / settings.steps:.3g} or add steps.")
        self.latent_shape = (1, self.pipe.unet.config.in_channels, height // factor, width // factor)
        self.reference_stats = lab_stats(first_frame.astype(np.float32) / 255.0) if settings.color_match else None
        self.store = AnchorStore()
        self.extra_kwargs: dict = {}
        self.embeddings: tuple[torch.Tensor, torch.Tensor] | None = None

    def encode_keyframes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings of every keyframe's prompt and negative prompt, [keyframes, tokens, dim] each.

        Called inside the pipeline's prepared context, so LoRA weights on the text encoder count."""
        with torch.no_grad():
            positive, negative = self.pipe.encode_prompt(
                self.schedule.prompts, self.device, 1, True, self.schedule.negatives
            )
        return positive, negative

    def frame_embeddings(self, frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (prompt, negative) embeddings the schedule blends for `frame`, each [1, tokens, dim]."""
        if self.embeddings is None:
            self.embeddings = self.encode_keyframes()
        positive, negative = self.embeddings
        return blend(positive, self.schedule, frame)[None], blend(negative, self.schedule, frame)[None]

    def steps_of(self, frame: int) -> int:
        """Denoising steps frame `frame` runs (img2img runs int(steps x strength))."""
        return min(int(self.settings.steps * self.strengths[frame]), self.settings.steps)

    def make_frame(self, frame: int, previous: np.ndarray, on_step: Callable[[], None] | None = None) -> np.ndarray:
        """Frame `frame` (uint8 [H, W, 3]) from `previous` (the input image for frame 0)."""
        settings = self.settings
        if settings.cross_frame_attention:
            self.store.mode = "record" if frame == 0 else "replay"
        self.pipe.frame_noise = frame_noise(settings, frame, self.latent_shape)
        positive, negative = self.frame_embeddings(frame)
        control = self.control[frame if self.control.shape[0] > 1 else 0]
        def step_end(pipe, step, timestep, tensors):
            on_step()  # the progress bar, which also checks for an interrupt at every step
            return {}

        with torch.no_grad():
            output = self.pipe(
                image=_as_chw(previous, self.device, self.dtype),
                control_image=_as_chw(control, self.device, self.dtype),
                prompt_embeds=positive, negative_prompt_embeds=negative,
                height=self.first_frame.shape[0], width=self.first_frame.shape[1],  # the scribble is resized to it
                strength=self.strengths[frame], num_inference_steps=settings.steps, guidance_scale=settings.guidance,
                controlnet_conditioning_scale=settings.controlnet_scale,
                generator=_noise_generator(frame_seed(settings, frame)), output_type="np",
                callback_on_step_end=step_end if on_step else None, **self.extra_kwargs,
            ).images[0]
        if self.reference_stats is not None:
            output = color_match(output, self.reference_stats)
        return _to_uint8(output)

    def run(self, sink: Callable[[int, np.ndarray], None], start: int = 0, previous: np.ndarray | None = None) -> None:
        """Make frames `start`.. and hand each to `sink(index, frame)`; `previous` is frame start-1 when resuming."""
        count = self.schedule.frame_count
        remake_anchor = self.settings.cross_frame_attention and 0 < start < count
        total = sum(self.steps_of(frame) for frame in range(start, count)) + (self.steps_of(0) if remake_anchor else 0)
        with contextlib.ExitStack() as stack:
            self.extra_kwargs = stack.enter_context(prepared_frames(self.pipeline, self.pipe))
            self.embeddings = self.encode_keyframes()
            if self.settings.cross_frame_attention:
                stack.enter_context(_CrossFrameAttention(self.pipe.unet, self.store))
                stack.callback(self.store.clear)
            bar = stack.enter_context(host.progress(total, f"animating {count - start} frames"))
            if remake_anchor:  # frame 0's keys and values are the anchor: make it again to refill the cache
                self.make_frame(0, self.first_frame, bar.update)
            previous = self.first_frame if start == 0 else previous
            done = bar.current
            for frame in range(start, count):
                host.check_interrupt()
                previous = self.make_frame(frame, previous, bar.update)
                done += self.steps_of(frame)
                bar.update_absolute(done)  # schedulers of order 2 call back per half step
                sink(frame, previous)


def animate(
    pipeline,
    first_frame: np.ndarray,
    control: np.ndarray,
    schedule: PromptSchedule,
    settings: AnimateSettings,
    clip: StreamingClip | None = None,
    resume: bool = True,
) -> AnimationResult:
    """Make the clip. In memory (all frames returned) or, with `clip`, streamed to disk (preview frames returned).

    `first_frame` is uint8 [H, W, 3]; `control` uint8 [1 or frames, H, W, 3]. A stopped streaming run resumes from its
    last frame on disk when `resume` is on.
    """
    animator = Animator(pipeline, first_frame, control, schedule, settings)
    if clip is None:
        frames = np.empty((schedule.frame_count, *first_frame.shape), dtype=np.uint8)
        animator.run(lambda index, frame: frames.__setitem__(index, frame))
        return AnimationResult(frames, schedule.frame_count)
    if clip.frame_count != schedule.frame_count:
        raise ValueError(f"The streaming clip holds {clip.frame_count} frames but the schedule has "
                         f"{schedule.frame_count}: build both from the same schedule.")
    start = clip.open(resume)
    try:
        previous = clip.load_frame(start - 1) if start > 0 else None
        animator.run(lambda index, frame: clip.append(frame), start, previous)
    finally:
        clip.close()
    return AnimationResult(np.stack(clip.preview()), schedule.frame_count, clip)


def run_key(first_frame: np.ndarray, control: np.ndarray, schedule: PromptSchedule, settings: AnimateSettings,
            model_key: str) -> str:
    """The fingerprint a streamed run is resumed under: everything that decides its frames."""
    from .video import fingerprint

    return fingerprint(model_key, schedule.keyframes, schedule.frame_count, schedule.interpolation, schedule.fps,
                       settings.__dict__, first_frame, control)


def pipeline_key(pipeline) -> str:
    """What identifies a pipeline's models for resuming: files, LoRA strengths, scheduler, identity lock settings."""
    lock = getattr(pipeline, "lock", None)
    lock_key = None
    if lock is not None:
        lock_key = (str(getattr(lock.adapter, "path", "")), lock.weight, lock.start, lock.end,
                    float(lock.positive.float().sum()))
    return repr((str(getattr(pipeline, "checkpoint", type(pipeline).__name__)), str(getattr(pipeline, "controlnet", "")),
                 [(str(l.path), l.strength) for l in getattr(pipeline, "loras", ())],
                 getattr(pipeline, "scheduler_name", ""), lock_key))


def streaming_clip(pipeline, first_frame: np.ndarray, control: np.ndarray, schedule: PromptSchedule,
                   settings: AnimateSettings, directory, video_format: str = "mp4",
                   preview_frames: int = 16) -> StreamingClip:
    """The streaming target of a clip in `directory`, keyed by everything that decides its frames (for resuming)."""
    if schedule.fps is None:
        raise ValueError("'schedule' has no fps: build it with seconds and fps (LF Prompt Schedule) to stream it.")
    key = run_key(first_frame, control, schedule, settings, pipeline_key(pipeline))
    return StreamingClip(directory, schedule.frame_count, schedule.fps, video_format, preview_frames=preview_frames,
                         key=key)
