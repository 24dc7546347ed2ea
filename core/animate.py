"""The animator: a clip made frame by frame on ComfyUI's MODEL, each frame img2img from the previous one.

Every frame is one call into ComfyUI's sampler (the call KSampler makes) with denoise = that frame's strength, on the
VAE-encoded previous frame (the first frame starts from the input image), with that frame's slice of the per-frame
positive and negative CONDITIONING (LF Prompt Schedule's output, or any batched conditioning) and, optionally, a
ControlNet attached as ControlNetApplyAdvanced attaches it, with the scribble map of the frame (one for all frames or
one per frame). Three temporal-consistency switches, each measurable on its own:

- cross-frame attention (Text2Video-Zero, Khachatryan et al. 2023): an attn1 patch on a clone of the MODEL makes
  every self-attention layer attend to the keys and values frame 0 had at the same noise level (recorded while frame
  0 is made);
- colour matching: each frame's LAB mean and standard deviation are moved to the input image's;
- shared noise: the starting noise mixes a clip-wide noise with the frame's own, sqrt(w) a + sqrt(1 - w) b (a mixed
  noise prior as in PYoCo, Ge et al. 2023); it matters in per-frame seed mode (a fixed seed already repeats noise).
  With it off, a frame's noise is KSampler's for the frame's seed.

Frames are quantised to 8 bits before they seed the next frame, so a run resumed from PNG files on disk continues
exactly as an uninterrupted one (frame seeds are seed + frame index; frame 0 is remade to refill the attention
cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import comfy_glue, host
from .checks import check_finite
from .color import color_match, lab_stats
from .images import to_uint8
from .schedule import parse_values
from .video import StreamingClip

SEED_MODES = ("fixed", "per frame")


@dataclass(frozen=True)
class AnimateSettings:
    """How each frame is made. `strength` is one number or `frame: value` lines (linear between them)."""

    steps: int = 20
    cfg: float = 7.0
    sampler_name: str = comfy_glue.DEFAULT_SAMPLER
    scheduler: str = comfy_glue.DEFAULT_SCHEDULER
    strength: str = "0.5"
    controlnet_strength: float = 1.0
    seed: int = 0
    seed_mode: str = "per frame"
    cross_frame_attention: bool = True
    color_match: bool = True
    shared_noise: float = 0.5
    fps: float = 12.0

    def check(self) -> None:
        """ValueError naming the first bad field (NaN and infinity included)."""
        for name in ("cfg", "controlnet_strength", "shared_noise", "fps"):
            check_finite(getattr(self, name), name)
        if self.steps < 1:
            raise ValueError(f"'steps' is {self.steps}; give at least 1 sampler step.")
        if self.seed_mode not in SEED_MODES:
            raise ValueError(f"'seed_mode' is {self.seed_mode!r}; choose one of {', '.join(SEED_MODES)}.")
        if not 0.0 <= self.shared_noise <= 1.0:
            raise ValueError(f"'shared_noise' is {self.shared_noise}; give 0 (off) to 1 (the same noise every frame).")
        if self.fps <= 0:
            raise ValueError(f"'fps' is {self.fps}; give the clip's frames per second (e.g. 12).")


@dataclass
class AnimationResult:
    """Frames (all of them, or the preview batch when streaming) as uint8 [N, H, W, 3], and the files written."""

    frames: np.ndarray
    frame_count: int
    clip: StreamingClip | None = None


# ------------------------------------------------------------------------------------------------ cross-frame attention


class CrossFrameAttention:
    """An attn1 patch (ComfyUI's `set_model_attn1_patch` signature) for Text2Video-Zero's cross-frame attention.

    While frame 0 is made (`mode` "record") it stores, per layer, noise level and cond/uncond half, what the layer's
    key and value projections read; for later frames ("replay") it hands those back, so each self-attention attends
    to frame 0's keys and values at the same noise level (the nearest one frame 0 ran: other strengths run other
    noise levels) while the queries stay the frame's own: the layout follows the frame, the appearance frame 0.
    Storing the projections' inputs rather than their outputs gives the same keys and values (the weights are shared)
    and leaves ComfyUI's attention and any attn1 replace patch untouched.
    """

    def __init__(self):
        self.mode = "record"
        self.cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, n: torch.Tensor, context: torch.Tensor, value: torch.Tensor, extra_options: dict):
        layer = (extra_options.get("block"), extra_options.get("block_index", 0))
        sigma = float(extra_options["sigmas"].flatten()[0])
        halves = extra_options.get("cond_or_uncond") or [0]
        contexts, values = context.chunk(len(halves)), value.chunk(len(halves))
        if self.mode == "record":
            for half, own_context, own_value in zip(halves, contexts, values):
                self.cache[(layer, sigma, half)] = (own_context, own_value)
            return n, context, value
        sigmas = {key[1] for key in self.cache if key[0] == layer}
        if not sigmas:
            return n, context, value  # frame 0 ran no step (strength 0): nothing to attend to
        nearest = min(sigmas, key=lambda recorded: abs(recorded - sigma))
        replayed = [self.cache.get((layer, nearest, half), (own_context, own_value))
                    for half, own_context, own_value in zip(halves, contexts, values)]
        return n, torch.cat([pair[0] for pair in replayed]), torch.cat([pair[1] for pair in replayed])

    def clear(self) -> None:
        """Forget every recorded tensor (the end of a clip)."""
        self.cache.clear()


# ----------------------------------------------------------------------------------------------------- conditioning


def conditioning_frames(conditioning: list, field: str) -> int:
    """How many frames a batched CONDITIONING holds (the batch of its cond tensors; 1 for an unbatched one)."""
    if not isinstance(conditioning, list) or not conditioning:
        raise ValueError(f"'{field}' is not a CONDITIONING: connect LF Prompt Schedule's or a CLIP Text Encode's output.")
    batches = {int(entry[0].shape[0]) for entry in conditioning}
    if len(batches - {1}) > 1:
        raise ValueError(f"'{field}' mixes batches of {sorted(batches)} frames: give every entry one batch size.")
    return max(batches)


def frame_conditioning(conditioning: list, frame: int, frame_count: int) -> list:
    """Frame `frame`'s slice [frame:frame+1] of a per-frame CONDITIONING (cond and pooled_output); entries of batch
    1 are shared by every frame. The input is not modified."""
    sliced = []
    for cond, options in conditioning:
        options = dict(options)
        pooled = options.get("pooled_output")
        if pooled is not None and pooled.shape[0] == frame_count > 1:
            options["pooled_output"] = pooled[frame:frame + 1]
        sliced.append([cond[frame:frame + 1] if cond.shape[0] == frame_count > 1 else cond, options])
    return sliced


# ---------------------------------------------------------------------------------------------------------- the frame


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


def _as_image(frame: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] as a one-image IMAGE batch [1, H, W, 3] in 0..1."""
    return torch.from_numpy(np.array(frame)).float()[None] / 255.0  # a copy: frames may be read-only (PNG reloads)


# --------------------------------------------------------------------------------------------------------- animator


class Animator:
    """Makes the frames of one clip on ComfyUI's models; `run()` drives it, `make_frame()` is one frame."""

    def __init__(self, model, vae, positive: list, negative: list, first_frame: np.ndarray, settings: AnimateSettings,
                 control_net=None, control: np.ndarray | None = None, frame_count: int = 0):
        settings.check()
        self.settings, self.vae, self.control_net = settings, vae, control_net
        count = conditioning_frames(positive, "positive")
        negative_count = conditioning_frames(negative, "negative")
        if negative_count not in (1, count):
            raise ValueError(f"'negative' holds {negative_count} frames but 'positive' {count}: give one negative for "
                             "all frames or one per frame (connect both outputs of the same LF Prompt Schedule).")
        if frame_count and count not in (1, frame_count):
            raise ValueError(f"'frames' is {frame_count} but 'positive' holds {count} frames: set 'frames' to 0 (as "
                             "many as the conditioning holds) or connect conditioning for one frame.")
        self.frame_count = frame_count or count
        self.positive, self.negative = positive, negative
        height, width = first_frame.shape[:2]
        if height % 8 or width % 8:
            raise ValueError(f"'first_frame' is {width}x{height}; both sides must be multiples of 8 "
                             "(resize or crop it, e.g. to 512x512).")
        if (control is None) != (control_net is None):
            raise ValueError("'control_net' and 'scribble' go together: connect both, or neither.")
        if control is not None and control.shape[0] not in (1, self.frame_count):
            raise ValueError(f"'scribble' has {control.shape[0]} maps for {self.frame_count} frames: give one map "
                             "for every frame, or a single map for all.")
        self.first_frame, self.control = first_frame, control
        self.strengths = parse_values(settings.strength, self.frame_count, settings.fps, 0.0, 1.0, "strength")
        self.reference_stats = lab_stats(first_frame.astype(np.float32) / 255.0) if settings.color_match else None
        self.attention = CrossFrameAttention()
        self.model = comfy_glue.with_attn1_patch(model, self.attention) if settings.cross_frame_attention else model

    def make_frame(self, frame: int, previous: np.ndarray, on_step: Callable[[int], None] | None = None) -> np.ndarray:
        """Frame `frame` (uint8 [H, W, 3]) from `previous` (the input image for frame 0); `on_step(step)` after each
        sampler step."""
        settings = self.settings
        self.attention.mode = "record" if frame == 0 else "replay"
        positive = frame_conditioning(self.positive, frame, self.frame_count)
        negative = frame_conditioning(self.negative, frame, self.frame_count)
        if self.control_net is not None:
            hint = _as_image(self.control[frame if self.control.shape[0] > 1 else 0])
            positive, negative = comfy_glue.apply_controlnet(positive, negative, self.control_net, hint,
                                                             settings.controlnet_strength, 0.0, 1.0, self.vae)
        latent = comfy_glue.vae_encode(self.vae, _as_image(previous))
        seed = frame_seed(settings, frame)
        callback = (lambda step, x0, x, total: on_step(step)) if on_step else None
        samples = comfy_glue.sample(self.model, seed, settings.steps, settings.cfg, settings.sampler_name,
                                    settings.scheduler, positive, negative, latent, denoise=self.strengths[frame],
                                    noise=frame_noise(settings, frame, tuple(latent.shape)), callback=callback)
        output = comfy_glue.vae_decode(self.vae, samples)[0].float().cpu().numpy()
        if self.reference_stats is not None:
            output = color_match(output, self.reference_stats)
        return to_uint8(torch.from_numpy(output)[None])[0]

    def run(self, sink: Callable[[int, np.ndarray], None], start: int = 0, previous: np.ndarray | None = None) -> None:
        """Make frames `start`.. and hand each to `sink(index, frame)`; `previous` is frame start-1 when resuming."""
        count, steps = self.frame_count, self.settings.steps
        remake_anchor = self.settings.cross_frame_attention and 0 < start < count
        total = (count - start + remake_anchor) * steps
        try:  # no_grad: the server runs nodes in inference mode, scripts and benches may not
            with torch.no_grad(), host.progress(total, f"animating {count - start} frames") as bar:
                def on_step(step: int) -> None:
                    bar.update_absolute(done + step + 1)  # also checks for an interrupt at every step

                done = 0
                if remake_anchor:  # frame 0's keys and values are the anchor: make it again to refill the cache
                    self.make_frame(0, self.first_frame, on_step)
                    done += steps
                previous = self.first_frame if start == 0 else previous
                for frame in range(start, count):
                    host.check_interrupt()
                    previous = self.make_frame(frame, previous, on_step)
                    done += steps
                    bar.update_absolute(done)  # a frame of strength 0 runs no step
                    sink(frame, previous)
        finally:
            self.attention.clear()


def animate(animator: Animator, clip: StreamingClip | None = None, resume: bool = True) -> AnimationResult:
    """Make the clip. In memory (all frames returned) or, with `clip`, streamed to disk (preview frames returned).

    A stopped streaming run resumes from its last frame on disk when `resume` is on.
    """
    count = animator.frame_count
    if clip is None:
        frames = np.empty((count, *animator.first_frame.shape), dtype=np.uint8)
        animator.run(lambda index, frame: frames.__setitem__(index, frame))
        return AnimationResult(frames, count)
    if clip.frame_count != count:
        raise ValueError(f"The streaming clip holds {clip.frame_count} frames but the conditioning has {count}: "
                         "build both for the same clip.")
    start = clip.open(resume)
    try:
        previous = clip.load_frame(start - 1) if start > 0 else None
        animator.run(lambda index, frame: clip.append(frame), start, previous)
    finally:
        clip.close()
    return AnimationResult(np.stack(clip.preview()), count, clip)


def run_key(animator: Animator, model, vae) -> str:
    """The fingerprint a streamed run is resumed under: everything that decides its frames."""
    from .video import fingerprint

    tensors = [tensor for conditioning in (animator.positive, animator.negative) for cond, options in conditioning
               for tensor in (cond, options.get("pooled_output")) if tensor is not None]
    return fingerprint(comfy_glue.fingerprint(model, vae, animator.control_net), animator.frame_count,
                       animator.settings.__dict__, animator.first_frame,
                       animator.control if animator.control is not None else "no control", *tensors)


def streaming_clip(animator: Animator, model, vae, directory, video_format: str = "mp4",
                   preview_frames: int = 16) -> StreamingClip:
    """The streaming target of a clip in `directory`, keyed by everything that decides its frames (for resuming)."""
    return StreamingClip(directory, animator.frame_count, animator.settings.fps, video_format,
                         preview_frames=preview_frames, key=run_key(animator, model, vae))
