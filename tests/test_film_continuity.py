"""core/film/continuity.py: the crossfade across a chunk overlap and colour anchoring, on answers known in advance."""

import cv2
import numpy as np
import pytest
import torch

from longform_pack.core.film import continuity

SIZE = 32


def constant_clip(frames: int, rgb: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).expand(frames, SIZE, SIZE, 3).clone()


def lab(frame: torch.Tensor) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame.numpy()), cv2.COLOR_RGB2LAB)


def rgb(lab_frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(cv2.cvtColor(lab_frame.astype(np.float32), cv2.COLOR_LAB2RGB))


def mean_delta_e(first: torch.Tensor, second: torch.Tensor) -> float:
    """Mean CIE76 colour difference per pixel between two [h, w, 3] RGB frames in 0..1."""
    return float(np.linalg.norm(lab(first) - lab(second), axis=-1).mean())


def delta_e_of_means(first: torch.Tensor, second: torch.Tensor) -> float:
    """CIE76 difference between two frames' mean LAB colours."""
    return float(np.linalg.norm(lab(first).mean((0, 1)) - lab(second).mean((0, 1))))


@pytest.mark.parametrize("overlap", [1, 4, 5])
def test_blending_two_constant_clips_gives_the_linear_ramp(overlap):
    red, blue = (0.9, 0.1, 0.0), (0.1, 0.2, 1.0)
    blended = continuity.blend_overlap(constant_clip(overlap, red), constant_clip(overlap, blue))
    for index in range(overlap):
        weight = (index + 1) / (overlap + 1)  # the next chunk's share: 1/(K+1), ..., K/(K+1)
        expected = [a + (b - a) * weight for a, b in zip(red, blue)]
        assert torch.allclose(blended[index], torch.tensor(expected).expand(SIZE, SIZE, 3), atol=1e-6)


def test_the_ramp_steps_evenly_from_the_previous_chunk_into_the_next():
    blended = continuity.blend_overlap(constant_clip(3, (0.0, 0.0, 0.0)), constant_clip(3, (1.0, 1.0, 1.0)))
    levels = [0.0] + [float(frame.mean()) for frame in blended] + [1.0]  # the unblended frames on either side
    assert np.allclose(np.diff(levels), 0.25)


def test_mismatched_overlaps_are_refused_with_both_shapes():
    with pytest.raises(ValueError, match=r"'previous_tail' \(4, 32, 32, 3\) and 'next_head' \(5, 32, 32, 3\)"):
        continuity.blend_overlap(constant_clip(4, (0, 0, 0)), constant_clip(5, (0, 0, 0)))
    with pytest.raises(ValueError, match="'next_head' must be an IMAGE batch"):
        continuity.blend_overlap(constant_clip(4, (0, 0, 0)), torch.zeros(4, SIZE, SIZE))


def _anchor_and_drifted():
    """An anchor frame, a copy of it shifted in LAB (lightness 0.9x + 6, a* + 7, b* - 5), and the anchor itself."""
    generator = torch.Generator().manual_seed(0)
    anchor = 0.3 + 0.4 * torch.rand(SIZE, SIZE, 3, generator=generator)
    drifted = rgb(lab(anchor) * np.float32([0.9, 1.0, 1.0]) + np.float32([6.0, 7.0, -5.0]))
    assert 0.0 < drifted.min() and drifted.max() < 1.0  # in gamut: the shift is exactly a per-channel LAB map
    return anchor, torch.stack([drifted, anchor])


def test_anchoring_a_colour_shifted_copy_brings_its_delta_e_to_the_anchor_near_zero():
    anchor, frames = _anchor_and_drifted()
    anchored = continuity.anchor_colours(frames, anchor)
    assert mean_delta_e(frames[0], anchor) > 5.0  # clearly visible before
    # Per pixel, far below the just-noticeable difference (about 2.3); OpenCV's float LAB round trip alone moves
    # colours by about 0.2.
    assert mean_delta_e(anchored[0], anchor) < 0.5
    assert mean_delta_e(anchored[1], anchor) < 0.5  # the anchor itself stays put


def test_anchoring_a_gain_drift_in_rgb_matches_the_mean_colour():
    # A per-channel RGB gain is no per-channel LAB map: pixels keep some difference, the mean colour none.
    generator = torch.Generator().manual_seed(1)
    anchor = 0.2 + 0.5 * torch.rand(SIZE, SIZE, 3, generator=generator)
    drifted = (anchor * torch.tensor([1.15, 0.95, 0.8]) + torch.tensor([0.05, 0.0, -0.03])).clamp(0, 1)
    (anchored,) = continuity.anchor_colours(drifted[None], anchor)
    assert delta_e_of_means(drifted, anchor) > 5.0
    assert delta_e_of_means(anchored, anchor) < 0.5


def test_anchor_strength_goes_from_unchanged_to_matched():
    anchor, frames = _anchor_and_drifted()
    assert torch.equal(continuity.anchor_colours(frames, anchor, strength=0.0), frames)
    half = mean_delta_e(continuity.anchor_colours(frames, anchor[None], strength=0.5)[0], anchor)
    assert abs(half - mean_delta_e(frames[0], anchor) / 2) < 0.5  # halfway along the same straight path
    assert mean_delta_e(continuity.anchor_colours(frames, anchor)[0], anchor) < half


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_a_strength_outside_zero_to_one_is_refused(strength):
    anchor, frames = _anchor_and_drifted()
    with pytest.raises(ValueError, match=f"'strength' must be between 0 and 1; got {strength}"):
        continuity.anchor_colours(frames, anchor, strength)


def test_an_anchor_of_several_frames_is_refused():
    anchor, frames = _anchor_and_drifted()
    with pytest.raises(ValueError, match="'anchor' must be one frame; got a batch of 2"):
        continuity.anchor_colours(frames, frames)
