"""The animator's logic without ComfyUI: the cross-frame attention patch's record and replay, per-frame conditioning
slices, the starting noise, colour matching, the strength schedule, and flat memory when streaming. The frames
themselves, on ComfyUI's models, are tested in tests/native/test_animate.py."""

import math

import numpy as np
import pytest
import torch

from longform_pack.core import animate, schedule, video

SIZE = 64


def options(sigma: float, halves=(1, 0), block=("input", 1)) -> dict:
    """The extra_options ComfyUI hands an attn1 patch (the keys the patch reads)."""
    return {"block": block, "block_index": 0, "sigmas": torch.full((len(halves),), sigma),
            "cond_or_uncond": list(halves)}


def test_cross_frame_attention_replays_frame_0_at_the_nearest_sigma_per_half_and_layer():
    patch = animate.CrossFrameAttention()
    frame0 = {sigma: torch.randn(2, 16, 8) for sigma in (14.6, 7.0, 1.0)}
    for sigma, tokens in frame0.items():
        n, context, value = patch(tokens, tokens, tokens, options(sigma))
        assert n is tokens and context is tokens and value is tokens  # recording changes nothing
    other_layer = torch.randn(2, 4, 8)
    patch(other_layer, other_layer, other_layer, options(14.6, block=("middle", 0)))

    patch.mode = "replay"
    own = torch.randn(2, 16, 8)
    n, context, value = patch(own, own, own, options(6.0))  # nearest recorded sigma: 7.0
    assert n is own and torch.equal(context, frame0[7.0]) and torch.equal(value, frame0[7.0])
    # halves in another order (uncond first): each half gets frame 0's tensors of its own half
    n, context, value = patch(own, own, own, options(1.2, halves=(0, 1)))
    assert torch.equal(context, torch.cat([frame0[1.0][1:], frame0[1.0][:1]]))
    # the middle block replays its own tensors, not the input block's
    _, context, _ = patch(own[:, :4], own[:, :4], own[:, :4], options(14.6, block=("middle", 0)))
    assert torch.equal(context, other_layer)
    patch.clear()
    n, context, value = patch(own, own, own, options(7.0))  # nothing recorded (frame 0 ran no step): own tensors
    assert context is own and value is own


def test_a_half_frame_0_did_not_run_keeps_its_own_tensors():
    patch = animate.CrossFrameAttention()
    cond_only = torch.randn(1, 16, 8)
    patch(cond_only, cond_only, cond_only, options(5.0, halves=(0,)))  # cfg 1: ComfyUI skips the uncond half
    patch.mode = "replay"
    own = torch.randn(2, 16, 8)
    _, context, _ = patch(own, own, own, options(5.0, halves=(0, 1)))
    assert torch.equal(context[:1], cond_only) and torch.equal(context[1:], own[1:])


def conditioning(frames: int, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(frames, 77, 768, generator=generator),
             {"pooled_output": torch.randn(frames, 768, generator=generator), "other": "kept"}]]


def test_frame_conditioning_is_the_frames_slice_and_leaves_the_input_alone():
    per_frame = conditioning(5)
    shared = conditioning(1, seed=1)
    cond, extra = per_frame[0]
    for frame in (0, 3, 4):
        [[sliced, sliced_extra]] = animate.frame_conditioning(per_frame, frame, 5)
        assert torch.equal(sliced, cond[frame:frame + 1])
        assert torch.equal(sliced_extra["pooled_output"], extra["pooled_output"][frame:frame + 1])
        assert sliced_extra["other"] == "kept"
        [[same, _]] = animate.frame_conditioning(shared, frame, 5)
        assert same is shared[0][0]
    assert per_frame[0][0] is cond and per_frame[0][1]["pooled_output"].shape == (5, 768)
    assert animate.conditioning_frames(per_frame, "positive") == 5
    assert animate.conditioning_frames(per_frame + shared, "positive") == 5
    with pytest.raises(ValueError, match="'positive' mixes batches of \\[3, 5\\]"):
        animate.conditioning_frames(per_frame + conditioning(3), "positive")
    with pytest.raises(ValueError, match="'negative' is not a CONDITIONING"):
        animate.conditioning_frames("a prompt", "negative")


def test_starting_noise_is_ksamplers_for_the_frame_seed_and_shared_noise_stays_unit_variance():
    shape = (1, 4, 8, 8)
    settings = animate.AnimateSettings(seed=7, seed_mode="per frame", shared_noise=0.0)
    # KSampler's noise (comfy.sample.prepare_noise): the global generator seeded with the seed, one randn draw
    assert torch.equal(animate.frame_noise(settings, 2, shape), torch.randn(shape, generator=torch.manual_seed(9)))
    fixed = animate.AnimateSettings(seed=7, seed_mode="fixed", shared_noise=0.0)
    assert torch.equal(animate.frame_noise(fixed, 0, shape), animate.frame_noise(fixed, 5, shape))

    mixed = animate.AnimateSettings(seed=7, shared_noise=0.5)
    big = (1, 4, 64, 64)
    frames = [animate.frame_noise(mixed, frame, big) for frame in range(3)]
    for noise in frames:
        assert abs(float(noise.std()) - 1.0) < 0.03 and abs(float(noise.mean())) < 0.03
    correlation = float(torch.corrcoef(torch.stack([frames[0].flatten(), frames[1].flatten()]))[0, 1])
    assert abs(correlation - 0.5) < 0.03  # the shared part's share of the variance


def test_colour_matching_moves_lab_mean_and_std_to_the_reference():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.2, 0.6, (SIZE, SIZE, 3)).astype(np.float32)
    drifted = np.clip(reference * 0.7 + np.array([0.25, 0.0, 0.1], dtype=np.float32), 0, 1)
    matched = animate.color_match(drifted, animate.lab_stats(reference))
    target_mean, target_std = animate.lab_stats(reference)
    mean, std = animate.lab_stats(matched)
    assert np.allclose(mean, target_mean, atol=1.0) and np.allclose(std, target_std, rtol=0.1, atol=0.5)
    assert not np.allclose(animate.lab_stats(drifted)[0], target_mean, atol=1.0)


def test_settings_errors_name_the_field():
    for field, value in (("steps", 0), ("seed_mode", "random"), ("shared_noise", 1.5), ("fps", 0.0)):
        with pytest.raises(ValueError, match=f"'{field}'"):
            animate.AnimateSettings(**{field: value}).check()


def test_strength_schedule_in_frames_and_seconds():
    strengths = schedule.parse_values("0: 0.8\n1s: 0.4", 12, 8.0, 0.0, 1.0, "strength")
    assert strengths[0] == 0.8 and strengths[8] == pytest.approx(0.4) and strengths[-1] == pytest.approx(0.4)
    assert strengths[4] == pytest.approx(0.6)


class _Animator(animate.Animator):
    """The animator's frame loop with the diffusion call replaced by a cheap frame generator."""

    def make_frame(self, frame, previous, on_step=None):
        for step in range(self.settings.steps):
            on_step(step)
        return (previous.astype(np.uint16) + 37 + frame).astype(np.uint8)  # each frame from the previous one


def test_streaming_peak_memory_is_flat_from_24_to_240_frames(tmp_path):
    """animate(), the frame loop and the clip writer: Python-side peak memory must not grow with the frame count."""
    import tracemalloc

    first = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    settings = animate.AnimateSettings(steps=2, cross_frame_attention=False, color_match=False)
    peaks = {}
    for count in (6, 24, 240):  # the first run pays one-off costs (imports, caches): a warm-up
        animator = _Animator(None, None, conditioning(1), conditioning(1), first, settings, frame_count=count)
        clip = video.StreamingClip(tmp_path / f"run{count}", count, 12.0, chunk_frames=24, preview_frames=4, key="k")
        tracemalloc.start()
        result = animate.animate(animator, clip=clip)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.frames.shape[0] == 4 and clip.written == count
    frame_bytes = SIZE * SIZE * 3
    assert peaks[240] - peaks[24] < 10 * frame_bytes, peaks  # 216 more frames held would be 216 x frame_bytes


def test_frames_of_the_clip_and_the_conditioning_must_agree(tmp_path):
    first = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    settings = animate.AnimateSettings(cross_frame_attention=False)
    with pytest.raises(ValueError, match="'frames' is 4 but 'positive' holds 5 frames"):
        animate.Animator(None, None, conditioning(5), conditioning(1), first, settings, frame_count=4)
    animator = _Animator(None, None, conditioning(5), conditioning(1), first, settings)
    assert animator.frame_count == 5
    with pytest.raises(ValueError, match="clip holds 3 frames but the conditioning has 5"):
        animate.animate(animator, clip=video.StreamingClip(tmp_path / "r", 3, 12.0, key="k"))
    assert math.isclose(animator.strengths[0], 0.5)
