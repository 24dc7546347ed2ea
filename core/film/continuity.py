"""Seams between chunks of a video scene: a crossfade across the frames two chunks share, and colour anchoring.

A chunk after the first starts from the previous chunk's last K frames and renders them again, so the two chunks
overlap by K frames. `blend_overlap` crossfades those K frames linearly from the previous chunk's to the next one's.
`anchor_colours` moves each frame's LAB colour statistics to the scene's anchor frame (the pack's LAB matching,
`core/color.py`), against the colour drift that VAE round trips accumulate chunk after chunk.

Frames are IMAGE batches: [n, height, width, 3] float tensors in 0..1.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import host
from ..color import color_match, lab_stats
from ..images import check_image_batch


def crossfade_weights(overlap: int) -> torch.Tensor:
    """The next chunk's weight on each of `overlap` shared frames: (i + 1) / (overlap + 1), so that neither end of the
    fade repeats a chunk's frame unchanged and the ramp continues the frames on both sides at equal steps."""
    return torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)


def blend_overlap(previous_tail: torch.Tensor, next_head: torch.Tensor) -> torch.Tensor:
    """The K frames two chunks share, crossfaded linearly from `previous_tail` (the previous chunk's last K frames)
    to `next_head` (the next chunk's first K frames)."""
    previous_tail = check_image_batch(previous_tail, "previous_tail")
    next_head = check_image_batch(next_head, "next_head")
    if previous_tail.shape != next_head.shape:
        raise ValueError(
            f"'previous_tail' {tuple(previous_tail.shape)} and 'next_head' {tuple(next_head.shape)} must have the same "
            "shape: the overlap is the same K frames of the same size in both chunks. Render the next chunk from the "
            "previous chunk's last K frames at the previous chunk's size."
        )
    weights = crossfade_weights(previous_tail.shape[0]).view(-1, 1, 1, 1)
    return previous_tail * (1.0 - weights) + next_head * weights


def anchor_colours(frames: torch.Tensor, anchor: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """`frames` with each frame's per-channel LAB mean and standard deviation moved to those of `anchor` (one frame,
    [height, width, 3] or [1, height, width, 3]); `strength` 0 leaves them unchanged, 1 matches fully."""
    frames = check_image_batch(frames, "frames")
    anchor = check_image_batch(anchor[None] if anchor.ndim == 3 else anchor, "anchor")
    if anchor.shape[0] != 1:
        raise ValueError(f"'anchor' must be one frame; got a batch of {anchor.shape[0]}. Pass the scene's anchor "
                         "frame alone, e.g. frames[0].")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"'strength' must be between 0 and 1; got {strength}. Use 1 to match the anchor's colours "
                         "fully, 0 to leave the frames unchanged.")
    if strength == 0.0:  # switched off: not even a LAB round trip (float LAB conversions move values by ~1e-3)
        return frames.clone()
    reference = lab_stats(anchor[0].numpy())
    matched = []
    for frame in frames.numpy():
        host.check_interrupt()
        matched.append(color_match(frame, reference, strength))
    return torch.from_numpy(np.stack(matched))
