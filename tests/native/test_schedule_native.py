"""LF Prompt Schedule against ComfyUI's own classes: a real CLIP encodes the keyframes, core KSampler takes the
per-frame conditioning over a latent batch.

MODEL and CLIP come from the tiny SD 1.5 checkpoint through core CheckpointLoaderSimple (ComfyUI's SD 1.5 text
encoder: full CLIP-L and its tokenizer; the tiny UNet with context 768; seeded random weights). Independent references
are core nodes: CLIPTextEncode for a keyframe, ConditioningAverage for a frame between two keyframes (the weighting
FizzNodes and our `linear` share).
"""

import pytest
import torch

from longform_pack.core import manifest

SCHEDULE = "0: a red fox in the snow --neg blurry\n3: a blue bird on a branch\n5: a blue bird on a branch"


@pytest.fixture(scope="module")
def checkpoint(comfy):
    """(MODEL, CLIP, VAE) of the tiny SD 1.5 checkpoint through core CheckpointLoaderSimple."""
    return comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)


@pytest.fixture(scope="module")
def clip(checkpoint):
    """The checkpoint's CLIP: ComfyUI's SD 1.5 text encoder (full CLIP-L, its own tokenizer), seeded weights."""
    return checkpoint[1]


@pytest.fixture(scope="module")
def model(checkpoint):
    """The checkpoint's MODEL: ComfyUI's SD 1.5 model class around the tiny UNet (context 768)."""
    return checkpoint[0]


@pytest.fixture(scope="module")
def scheduled(comfy, clip):
    """(positive, negative, schedule, timeline, frame_count) from the node: 6 frames, linear."""
    from longform_pack.nodes import animate

    return animate.LF_PromptSchedule().build(clip, SCHEDULE, seconds=0.75, fps=8.0, interpolation="linear",
                                             negative="lowres")


def encode(comfy, clip, text):
    """Core CLIPTextEncode's CONDITIONING for `text`."""
    return comfy.nodes.CLIPTextEncode().encode(clip, text)[0]


def frame_of(conditioning, frame):
    """Frame `frame` of a per-frame CONDITIONING, as a one-frame CONDITIONING."""
    cond, extra = conditioning[0]
    return [[cond[frame : frame + 1], {"pooled_output": extra["pooled_output"][frame : frame + 1]}]]


def test_conditioning_has_a_row_per_frame_in_sd15_shapes(scheduled):
    positive, negative, schedule, timeline, frame_count = scheduled
    assert frame_count == 6 == schedule.frame_count
    for conditioning in (positive, negative):
        assert len(conditioning) == 1
        cond, extra = conditioning[0]
        assert cond.shape == (6, 77, 768) and extra["pooled_output"].shape == (6, 768)
    assert timeline.shape[0] == 1 and timeline.shape[-1] == 3


def test_keyframes_equal_clip_text_encode_bit_for_bit(comfy, clip, scheduled):
    positive, negative = scheduled[:2]
    for frame, text in ((0, "a red fox in the snow"), (3, "a blue bird on a branch"), (5, "a blue bird on a branch")):
        reference = encode(comfy, clip, text)
        assert torch.equal(positive[0][0][frame], reference[0][0][0])
        assert torch.equal(positive[0][1]["pooled_output"][frame], reference[0][1]["pooled_output"][0])
    assert torch.equal(negative[0][0][0], encode(comfy, clip, "blurry")[0][0][0])
    assert torch.equal(negative[0][0][4], encode(comfy, clip, "lowres")[0][0][0])  # the node's default negative
    assert not torch.equal(positive[0][0][0], positive[0][0][3])


def test_frames_between_keyframes_equal_core_conditioning_average(comfy, clip, scheduled):
    """Frame f between keyframes A (frame 0) and B (frame 3) is core ConditioningAverage(A, B, 1 - f/3), bit for bit,
    pooled output included."""
    positive = scheduled[0]
    fox, bird = encode(comfy, clip, "a red fox in the snow"), encode(comfy, clip, "a blue bird on a branch")
    for frame in (1, 2):
        strength = 1.0 - (1.0 / 3) * frame
        (reference,) = comfy.nodes.ConditioningAverage().addWeighted(fox, bird, strength)
        assert torch.equal(positive[0][0][frame], reference[0][0][0])
        assert torch.equal(positive[0][1]["pooled_output"][frame], reference[0][1]["pooled_output"][0])


def test_ksampler_over_the_latent_batch_samples_each_frame_with_its_own_conditioning(comfy, clip, model, scheduled):
    """Core KSampler over 6 latents with the schedule's conditioning: frame i equals sampling latent i alone (its
    slice of the batch's noise) with frame i's conditioning built by core nodes (CLIPTextEncode, ConditioningAverage).
    (A batch of 6 and a batch of 1 agree to rounding: bit for bit on some CPUs, not on others, nor on a GPU.)"""
    positive, negative = scheduled[:2]
    (latent,) = comfy.nodes.EmptyLatentImage().generate(64, 64, batch_size=6)
    settings = dict(seed=7, steps=2, cfg=6.0, sampler_name="euler", scheduler="normal")
    (batch,) = comfy.nodes.KSampler().sample(model, positive=positive, negative=negative, latent_image=latent,
                                              denoise=1.0, **settings)
    samples = batch["samples"]
    assert samples.shape == (6, 4, 8, 8)

    noise = comfy.sample.prepare_noise(latent["samples"], settings["seed"])
    fox, bird = encode(comfy, clip, "a red fox in the snow"), encode(comfy, clip, "a blue bird on a branch")
    blurry, lowres = encode(comfy, clip, "blurry"), encode(comfy, clip, "lowres")
    by_core_nodes = {
        0: (fox, blurry),
        2: (comfy.nodes.ConditioningAverage().addWeighted(fox, bird, 1.0 - (1.0 / 3) * 2)[0],
            comfy.nodes.ConditioningAverage().addWeighted(blurry, lowres, 1.0 - (1.0 / 3) * 2)[0]),
        4: (bird, lowres),
    }
    for frame, (frame_positive, frame_negative) in by_core_nodes.items():
        alone = comfy.sample.sample(model, noise[frame : frame + 1], settings["steps"], settings["cfg"],
                                    settings["sampler_name"], settings["scheduler"], frame_positive, frame_negative,
                                    latent["samples"][frame : frame + 1], denoise=1.0, seed=settings["seed"])
        # A batch of 6 and a batch of 1 may take different GEMM kernels: bit for bit on the Intel Xeon this was
        # written on, within 1e-5 of the sample's range on an AMD EPYC. The bitwise check below is on equal shapes.
        torch.testing.assert_close(samples[frame : frame + 1], alone, rtol=0,
                                   atol=1e-5 * float(alone.abs().max()), msg=f"frame {frame}")
        sliced = comfy.sample.sample(model, noise[frame : frame + 1], settings["steps"], settings["cfg"],
                                     settings["sampler_name"], settings["scheduler"], frame_of(positive, frame),
                                     frame_of(negative, frame), latent["samples"][frame : frame + 1], denoise=1.0,
                                     seed=settings["seed"])
        assert torch.equal(sliced, alone)  # the node's row i is frame i's conditioning
    # the conditioning steers: frame 0 sampled with frame 4's prompt is another picture
    swapped = comfy.sample.sample(model, noise[0:1], settings["steps"], settings["cfg"], settings["sampler_name"],
                                  settings["scheduler"], bird, lowres, latent["samples"][0:1], denoise=1.0,
                                  seed=settings["seed"])
    assert (swapped - samples[0:1]).abs().max() > 0.01 * samples[0:1].abs().max()


def test_a_prompt_past_77_tokens_batches_with_short_ones(comfy, clip):
    """CLIP encodes a long prompt in two 77-token chunks; the short keyframe's rows repeat its encoding to 154 tokens,
    as ComfyUI batches such conds (attention over a repeated sequence is the same)."""
    from longform_pack.nodes import animate

    long_prompt = ", ".join(["a tall pine tree in the mist"] * 14)
    positive = animate.LF_PromptSchedule().build(clip, f"0: a lake\n2: {long_prompt}", seconds=0.5, fps=8.0,
                                                 interpolation="linear", negative="")[0]
    lake, pines = encode(comfy, clip, "a lake")[0][0], encode(comfy, clip, long_prompt)[0][0]
    assert lake.shape[1] == 77 and pines.shape[1] == 154
    assert positive[0][0].shape == (4, 154, 768)
    assert torch.equal(positive[0][0][0], lake.repeat(1, 2, 1)[0]) and torch.equal(positive[0][0][2], pines[0])
