"""LF Animate on ComfyUI's own MODEL, VAE, CONTROL_NET and CONDITIONING: each frame is the core img2img chain
(VAEEncode, ControlNetApplyAdvanced, KSampler at the frame's denoise, VAEDecode) on the previous frame; the
cross-frame attention patch; the input model untouched; streaming resume; progress and interrupt; the node."""

import numpy as np
import pytest
import torch

import tiny_comfy
from tiny_comfy import inference_mode  # noqa: F401 (an autouse fixture: nodes run as the server runs them)

SIZE = 64
FRAMES = 4
SETTINGS = dict(steps=3, cfg=5.0, sampler_name="euler", scheduler="normal", strength="0.6", seed=3,
                seed_mode="per frame", cross_frame_attention=True, color_match=True, shared_noise=0.5, fps=8.0)


@pytest.fixture(scope="module")
def models(comfy):
    torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared CPU
    return dict(model=tiny_comfy.model(), vae=tiny_comfy.vae(), control_net=tiny_comfy.control_net(),
                positive=tiny_comfy.conditioning(FRAMES, 10), negative=tiny_comfy.conditioning(FRAMES, 11))


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    scribble = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    scribble[0, 20:44, 30:34] = 255
    return first, scribble


def make(pack, models, inputs, control=True, frames=0, **changes):
    """An Animator on the tiny models with SETTINGS (+ changes)."""
    animate = pack.core.animate
    first, scribble = inputs
    settings = animate.AnimateSettings(**{**SETTINGS, **changes})
    return animate.Animator(models["model"], models["vae"], models["positive"], models["negative"], first, settings,
                            models["control_net"] if control else None, scribble if control else None, frames)


def clip(pack, models, inputs, **changes):
    return pack.core.animate.animate(make(pack, models, inputs, **changes)).frames


@pytest.fixture(scope="module")
def reference(pack, models, inputs):
    """The default clip, made once."""
    return clip(pack, models, inputs)


def image(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).float()[None] / 255.0


def core_img2img(comfy, models, previous, frame, seed, denoise, control=None, strength=1.0):
    """Core nodes only: VAEEncode -> (ControlNetApplyAdvanced) -> KSampler(denoise) -> VAEDecode, on frame's slice."""
    nodes = comfy.nodes
    positive = [[models["positive"][0][0][frame:frame + 1],
                 {"pooled_output": models["positive"][0][1]["pooled_output"][frame:frame + 1]}]]
    negative = [[models["negative"][0][0][frame:frame + 1],
                 {"pooled_output": models["negative"][0][1]["pooled_output"][frame:frame + 1]}]]
    if control is not None:
        positive, negative = nodes.ControlNetApplyAdvanced().apply_controlnet(
            positive, negative, models["control_net"], image(control), strength, 0.0, 1.0, vae=models["vae"])
    (latent,) = nodes.VAEEncode().encode(models["vae"], image(previous))
    (samples,) = nodes.KSampler().sample(models["model"], seed, SETTINGS["steps"], SETTINGS["cfg"], "euler", "normal",
                                         positive, negative, latent, denoise=denoise)
    (decoded,) = nodes.VAEDecode().decode(models["vae"], samples)
    return (decoded[0].clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)


def test_each_frame_is_the_core_img2img_chain_on_the_previous_frame(comfy, pack, models, inputs):
    """With the switches off, frame k = core chain on frame k-1 with conditioning slice k, seed + k, denoise = its
    strength: the per-frame conditioning, the seed mode, the strength schedule and the ControlNet all as core does."""
    first, scribble = inputs
    frames = clip(pack, models, inputs, cross_frame_attention=False, color_match=False, shared_noise=0.0,
                  strength="0: 0.8\n3: 0.5")
    previous = first
    for frame, denoise in enumerate((0.8, 0.7, 0.6, 0.5)):
        expected = core_img2img(comfy, models, previous, frame, SETTINGS["seed"] + frame, denoise, scribble[0])
        assert np.abs(frames[frame].astype(int) - expected.astype(int)).max() <= 1, frame
        previous = frames[frame]


def test_cross_frame_attention_changes_frames_after_the_first_only(pack, models, inputs):
    on = clip(pack, models, inputs, color_match=False)
    off = clip(pack, models, inputs, color_match=False, cross_frame_attention=False)
    assert np.array_equal(on[0], off[0])
    for frame in range(1, FRAMES):
        assert not np.array_equal(on[frame], off[frame]), frame


def test_the_input_model_is_never_mutated(comfy, pack, models, inputs):
    first, _ = inputs
    options_before = repr(models["model"].model_options)
    before = core_img2img(comfy, models, first, 1, 5, 0.7)
    clip(pack, models, inputs)
    assert repr(models["model"].model_options) == options_before
    assert np.array_equal(core_img2img(comfy, models, first, 1, 5, 0.7), before)


def test_deterministic_for_a_seed_and_seed_changes_it(pack, models, inputs, reference):
    assert np.array_equal(clip(pack, models, inputs), reference)
    assert not np.array_equal(clip(pack, models, inputs, seed=4), reference)


@pytest.mark.parametrize("change", [{"color_match": False}, {"shared_noise": 0.0}, {"controlnet_strength": 0.0},
                                    {"seed_mode": "fixed"}])
def test_each_switch_changes_the_output(pack, models, inputs, reference, change):
    assert not np.array_equal(clip(pack, models, inputs, **change), reference)


def test_one_scribble_per_frame_is_used_per_frame(pack, models, inputs, reference):
    first, scribble = inputs
    moving = np.repeat(scribble, FRAMES, axis=0)
    moving[2:, 10:20, 10:50] = 255
    frames = pack.core.animate.animate(make(pack, models, (first, moving))).frames
    assert np.array_equal(frames[:2], reference[:2]) and not np.array_equal(frames[2:], reference[2:])


def test_without_controlnet_and_with_one_conditioning_for_every_frame(pack, models, inputs):
    one = dict(models, positive=tiny_comfy.conditioning(1, 10), negative=tiny_comfy.conditioning(1, 11))
    frames = pack.core.animate.animate(make(pack, one, inputs, control=False, frames=3)).frames
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8


def test_bad_inputs_name_their_field(pack, models, inputs):
    first, scribble = inputs
    with pytest.raises(ValueError, match="'strength'"):
        make(pack, models, inputs, strength="1.5")
    with pytest.raises(ValueError, match="'steps'"):
        make(pack, models, inputs, steps=0)
    with pytest.raises(ValueError, match="'scribble' has 2 maps for 4 frames"):
        make(pack, models, (first, np.repeat(scribble, 2, axis=0)))
    with pytest.raises(ValueError, match="'first_frame' is 60x64"):
        make(pack, models, (first[:, :60], scribble))
    with pytest.raises(ValueError, match="'negative' holds 3 frames"):
        make(pack, dict(models, negative=tiny_comfy.conditioning(3, 1)), inputs)
    with pytest.raises(ValueError, match="'control_net' and 'scribble'"):
        pack.core.animate.Animator(models["model"], models["vae"], models["positive"], models["negative"], first,
                                   pack.core.animate.AnimateSettings(), models["control_net"], None)


def test_progress_counts_frames_times_steps_and_interrupt_stops_within_a_frame(comfy, pack, models, inputs,
                                                                              monkeypatch):
    host = pack.core.host
    updates = []
    original = host.Progress.update_absolute

    def record_then_stop(self, value, preview_image=None):
        updates.append((value, self.total))
        if value == SETTINGS["steps"] + 1:
            comfy.model_management.interrupt_current_processing(True)  # the user presses stop in frame 1's 1st step
        original(self, value, preview_image)

    monkeypatch.setattr(host.Progress, "update_absolute", record_then_stop)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            clip(pack, models, inputs)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert updates[0][1] == FRAMES * SETTINGS["steps"]
    assert updates[-1][0] == SETTINGS["steps"] + 1  # stopped at the step, not at the end of the clip


def test_streaming_resume_after_interrupt_equals_an_uninterrupted_run(comfy, pack, models, inputs, reference,
                                                                     tmp_path, monkeypatch):
    animate, video = pack.core.animate, pack.core.video

    def streaming():
        animator = make(pack, models, inputs)
        key = animate.run_key(animator, models["model"], models["vae"])
        return animator, video.StreamingClip(tmp_path / "run", FRAMES, 8.0, chunk_frames=2, preview_frames=2, key=key)

    original_append = video.StreamingClip.append

    def append_then_stop(self, frame):
        original_append(self, frame)
        if self.written == 2:
            comfy.model_management.interrupt_current_processing(True)  # stop while frame 2 is being made

    monkeypatch.setattr(video.StreamingClip, "append", append_then_stop)
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        animate.animate(*(lambda a, c: (a, c))(*streaming()))
    comfy.model_management.interrupt_current_processing(False)
    monkeypatch.setattr(video.StreamingClip, "append", original_append)
    assert len(list((tmp_path / "run" / "frames").glob("*.png"))) == 2

    animator, target = streaming()
    result = animate.animate(animator, clip=target, resume=True)
    resumed = np.stack([result.clip.load_frame(i) for i in range(FRAMES)])
    assert np.array_equal(resumed, reference)
    assert result.frames.shape[0] == 2 and np.array_equal(result.frames[0], reference[0])


def test_a_changed_setting_or_model_is_another_run(pack, models, inputs):
    animate = pack.core.animate
    key = animate.run_key(make(pack, models, inputs), models["model"], models["vae"])
    assert animate.run_key(make(pack, models, inputs), models["model"], models["vae"]) == key
    assert animate.run_key(make(pack, models, inputs, cfg=6.0), models["model"], models["vae"]) != key
    other = dict(models, model=tiny_comfy.model(seed=9))
    assert animate.run_key(make(pack, other, inputs), other["model"], models["vae"]) != key

    class Lock:  # an attention patch with a setting, as the identity lock's are
        def __init__(self, weight):
            self.weight = weight

        def __call__(self, q, k, v, extra_options):
            return q

    keys = []
    for weight in (0.5, 0.5, 0.7):
        locked = models["model"].clone()
        locked.set_model_attn2_replace(Lock(weight), "input", 1)
        keys.append(animate.run_key(make(pack, dict(models, model=locked), inputs), locked, models["vae"]))
    assert keys[0] == keys[1] != keys[2] and key not in keys


def test_the_run_key_is_the_same_once_comfyui_patched_the_weights_in_place(comfy, pack, models, inputs):
    """A LoRA-patched MODEL that sampled has its weights patched in place: the key must not change with that (the
    film renderer resumes a half-made clip on another server, whose copy of the model has not sampled yet)."""
    animate = pack.core.animate
    patched = models["model"].clone()
    first_key = next(iter(patched.model_state_dict()))
    patched.add_patches({first_key: (torch.full_like(patched.model_state_dict()[first_key], 0.1),)}, 1.0)
    before = animate.run_key(make(pack, dict(models, model=patched), inputs), patched, models["vae"])
    comfy.model_management.load_models_gpu([patched])  # applies the patch into the weights
    try:
        assert patched.backup, "the patch was not applied in place"
        after = animate.run_key(make(pack, dict(models, model=patched), inputs), patched, models["vae"])
    finally:
        patched.unpatch_model()
    assert after == before
    assert before != animate.run_key(make(pack, models, inputs), models["model"], models["vae"])


def test_animate_node_in_memory_and_streaming(comfy, pack, models, inputs, reference):
    first, scribble = (torch.from_numpy(array).float() / 255.0 for array in inputs)
    node = pack.nodes.animate.LF_Animate()
    arguments = dict(model=models["model"], vae=models["vae"], positive=models["positive"],
                     negative=models["negative"], first_frame=first[None], control_net=models["control_net"],
                     scribble=scribble, **SETTINGS)
    frames, path = node.run(mode="in memory", **arguments)
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and path == ""
    assert np.array_equal(pack.core.video.to_uint8(frames), reference)
    streamed = node.run(mode="stream to disk", run_name="clips/run1", preview_frames=2, **arguments)
    preview, path = streamed["result"]
    assert preview.shape[0] == 2 and path.endswith("clips/run1/run1.mp4")
    assert streamed["ui"]["images"] == [{"filename": "run1.mp4", "subfolder": "clips/run1", "type": "output"}]
    assert np.array_equal(pack.core.video.to_uint8(preview), reference[[0, FRAMES - 1]])


def test_sampler_and_scheduler_lists_are_comfyuis(comfy, pack):
    required = pack.nodes.animate.LF_Animate.INPUT_TYPES()["required"]
    assert required["sampler_name"][0] == list(comfy.samplers.KSampler.SAMPLERS)
    assert required["scheduler"][0] == list(comfy.samplers.KSampler.SCHEDULERS)
