"""The animator on the tiny SD 1.5 + ControlNet + LoRA: frame count, determinism, the schedule's embeddings per frame,
each consistency switch, progress, streaming resume after an interrupt, the node."""

import dataclasses

import numpy as np
import pytest
import torch

from longform_pack.core import animate, host, schedule, stylize, video
from longform_pack.nodes import animate as nodes

SIZE = 64
SETTINGS = animate.AnimateSettings(steps=4, strength="0.5", guidance=5.0, seed=3)


@pytest.fixture(scope="module")
def pipeline(tiny_models_dir):
    torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared CPU
    return stylize.load_pipeline(
        "longform-tiny-sd15.safetensors",
        "longform-tiny-controlnet-scribble.safetensors",
        [("longform-tiny-lora-kohya.safetensors", 0.8)],
        scheduler="euler_a",
    )


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    scribble = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    scribble[0, 20:44, 30:34] = 255
    return first, scribble


def clip_schedule(frames=6, fps=8.0, interpolation="linear"):
    return schedule.parse_schedule(f"0: a sunny forest\n{min(4, frames - 1)}: a stormy night, rain", frames, fps=fps,
                                   interpolation=interpolation, default_negative="blurry")


@pytest.fixture(scope="module")
def reference(pipeline, inputs):
    """The default clip, made once."""
    return animate.animate(pipeline, *inputs, clip_schedule(), SETTINGS).frames


def test_frame_count_is_round_seconds_times_fps(pipeline, inputs):
    frame_count = schedule.frame_count_for(0.45, 10.0)  # 4.5 frames rounds to 4 (round half to even)
    sched = schedule.parse_schedule("0: a\n2: b", frame_count, fps=10.0)
    result = animate.animate(pipeline, *inputs, sched, dataclasses.replace(SETTINGS, steps=2))
    assert result.frames.shape == (round(0.45 * 10), SIZE, SIZE, 3) == (4, SIZE, SIZE, 3)
    assert result.frames.dtype == np.uint8


def test_deterministic_for_a_seed_and_seed_changes_it(pipeline, inputs, reference):
    again = animate.animate(pipeline, *inputs, clip_schedule(), SETTINGS).frames
    assert np.array_equal(again, reference)
    other = animate.animate(pipeline, *inputs, clip_schedule(), dataclasses.replace(SETTINGS, seed=4)).frames
    assert not np.array_equal(other, reference)
    # frames are a chain, not copies of the input
    assert not np.array_equal(reference[0], inputs[0]) and not np.array_equal(reference[1], reference[0])


@pytest.mark.parametrize(
    "change",
    [{"cross_frame_attention": False}, {"color_match": False}, {"shared_noise": 0.0}, {"seed_mode": "fixed"}],
    ids=lambda change: next(iter(change)),
)
def test_each_consistency_switch_changes_the_output(pipeline, inputs, reference, change):
    frames = animate.animate(pipeline, *inputs, clip_schedule(), dataclasses.replace(SETTINGS, **change)).frames
    difference = np.abs(frames.astype(int) - reference.astype(int)).mean(axis=(1, 2, 3))
    assert difference.max() > 0.5, difference
    if "cross_frame_attention" in change or "seed_mode" in change:
        # frame 0 is its own anchor and uses seed + 0 either way: the switch only acts on later frames
        assert difference[0] == 0 and difference[1:].min() > 0


def test_cross_frame_attention_restores_the_pipeline(pipeline, inputs):
    before = {name: type(p) for name, p in pipeline.pipe.unet.attn_processors.items()}
    animate.animate(pipeline, *inputs, clip_schedule(frames=2), dataclasses.replace(SETTINGS, steps=2))
    assert {name: type(p) for name, p in pipeline.pipe.unet.attn_processors.items()} == before
    assert not pipeline.pipe.unet._forward_pre_hooks


def test_the_embedding_at_each_frame_follows_the_schedule(pipeline, inputs):
    sched = clip_schedule(interpolation="slerp")
    settings = dataclasses.replace(SETTINGS, steps=2)
    seen = []
    unet = pipeline.pipe.unet
    hook = unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"].detach().clone()), with_kwargs=True
    )
    try:
        animator = animate.Animator(pipeline, *inputs, sched, settings)
        animator.run(lambda index, frame: None)
    finally:
        hook.remove()
    positive, negative = animator.embeddings
    calls = [animator.steps_of(frame) for frame in range(sched.frame_count)]
    assert len(seen) == sum(calls)
    offset = 0
    for frame, count in enumerate(calls):
        expected = schedule.blend(positive, sched, frame)
        expected_negative = schedule.blend(negative, sched, frame)
        for call in seen[offset : offset + count]:
            assert torch.allclose(call[1], expected, atol=1e-6)  # CFG batch: [negative, positive]
            assert torch.allclose(call[0], expected_negative, atol=1e-6)
        offset += count
    # the prompt really changes along the clip: frame 0 is the first keyframe, frames from 4 on the second
    assert torch.allclose(seen[0][1], positive[0]) and torch.allclose(seen[-1][1], positive[1])
    assert not torch.allclose(positive[0], positive[1])


def test_strength_per_frame_sets_the_steps(pipeline, inputs):
    animator = animate.Animator(pipeline, *inputs, clip_schedule(frames=8),
                                dataclasses.replace(SETTINGS, steps=10, strength="0: 0.8\n7: 0.1"))
    steps = [animator.steps_of(frame) for frame in range(8)]
    assert animator.strengths == pytest.approx([0.8 - 0.1 * frame for frame in range(8)])
    assert steps == [int(10 * strength) for strength in animator.strengths]  # diffusers' img2img rule
    assert steps[0] == 8 and steps[-1] == 1 and steps == sorted(steps, reverse=True)


def test_progress_counts_frames_times_steps(pipeline, inputs, monkeypatch):
    bars = []
    original = host.progress

    def recording(total, desc=""):
        bars.append(original(total, desc))
        return bars[-1]

    monkeypatch.setattr(host, "progress", recording)
    animate.animate(pipeline, *inputs, clip_schedule(frames=3), dataclasses.replace(SETTINGS, steps=4))
    assert bars[0].total == 3 * 2 and bars[0].current == 6


def test_bad_inputs_name_their_field(pipeline, inputs):
    first, scribble = inputs
    with pytest.raises(ValueError, match="'control' has 2 maps for 6 frames"):
        animate.animate(pipeline, first, np.concatenate([scribble, scribble]), clip_schedule(), SETTINGS)
    with pytest.raises(ValueError, match="'strength' at frame 0 is 0.1"):
        animate.animate(pipeline, first, scribble, clip_schedule(), dataclasses.replace(SETTINGS, strength="0.1"))
    with pytest.raises(ValueError, match="'first_frame' is 60x60"):
        animate.animate(pipeline, first[:60, :60], scribble, clip_schedule(), SETTINGS)
    with pytest.raises(ValueError, match="'seed_mode'"):
        animate.animate(pipeline, first, scribble, clip_schedule(), dataclasses.replace(SETTINGS, seed_mode="random"))


def test_a_scribble_of_another_size_is_resized_to_the_frame(pipeline, inputs):
    first, scribble = inputs
    small = scribble[:, ::2, ::2]  # 32x32 for 64x64 frames
    frames = animate.animate(pipeline, first, small, clip_schedule(frames=2), dataclasses.replace(SETTINGS, steps=2))
    assert frames.frames.shape == (2, SIZE, SIZE, 3)


def test_one_scribble_per_frame_is_used_per_frame(pipeline, inputs, reference):
    first, scribble = inputs
    moving = np.repeat(scribble, 6, axis=0)
    moving[3:] = 255 - moving[3:]
    frames = animate.animate(pipeline, first, moving, clip_schedule(), SETTINGS).frames
    assert np.array_equal(frames[:3], reference[:3]) and not np.array_equal(frames[3:], reference[3:])


def test_streaming_resume_after_interrupt_equals_an_uninterrupted_run(pipeline, inputs, reference, tmp_path,
                                                                     monkeypatch):
    sched = clip_schedule()
    key = animate.run_key(*inputs, sched, SETTINGS, animate.pipeline_key(pipeline))
    make_clip = lambda: video.StreamingClip(tmp_path / "run", sched.frame_count, 8.0, chunk_frames=4,  # noqa: E731
                                            preview_frames=3, key=key)
    original_append = video.StreamingClip.append

    def append_then_stop(self, frame):
        original_append(self, frame)
        if self.written == 3:
            host.request_interrupt()  # the user presses stop while frame 3 is being made

    monkeypatch.setattr(video.StreamingClip, "append", append_then_stop)
    with pytest.raises(host.Interrupted):
        animate.animate(pipeline, *inputs, sched, SETTINGS, clip=make_clip())
    monkeypatch.setattr(video.StreamingClip, "append", original_append)
    host.clear_interrupt()
    assert len(list((tmp_path / "run" / "frames").glob("*.png"))) == 3

    result = animate.animate(pipeline, *inputs, sched, SETTINGS, clip=make_clip(), resume=True)
    resumed = np.stack([result.clip.load_frame(i) for i in range(sched.frame_count)])
    assert np.array_equal(resumed, reference)
    assert result.frames.shape[0] == 3 and np.array_equal(result.frames[0], reference[0])
    import imageio.v3 as iio

    assert len(iio.imread(result.clip.video_path, plugin="FFMPEG", index=None)) == sched.frame_count


def test_animate_node_in_memory_and_streaming(pipeline, inputs, output_dir, reference):
    first, scribble = (torch.from_numpy(array).float() / 255.0 for array in inputs)
    sched = clip_schedule()
    node = nodes.LF_Animate()
    arguments = dict(pipeline=pipeline, first_frame=first[None], scribble=scribble, schedule=sched, steps=4,
                     guidance=5.0, strength="0.5", controlnet_strength=1.0, seed=3, seed_mode="per frame",
                     cross_frame_attention=True, color_match=True, shared_noise=0.5)
    frames, path = node.run(mode="in memory", **arguments)
    assert frames.shape == (6, SIZE, SIZE, 3) and path == ""
    assert np.array_equal(video.to_uint8(frames), reference)
    streamed = node.run(mode="stream to disk", run_name="clips/run1", preview_frames=2, **arguments)
    preview, path = streamed["result"]
    assert preview.shape[0] == 2 and path.endswith("clips/run1/run1.mp4")
    assert streamed["ui"]["images"] == [{"filename": "run1.mp4", "subfolder": "clips/run1", "type": "output"}]
    assert np.array_equal(video.to_uint8(preview), reference[[0, 5]])


def test_streaming_peak_memory_is_flat_from_24_to_240_frames(pipeline, inputs, tmp_path, monkeypatch):
    """The whole streaming loop (animate(), the animator's frame loop, the clip writer) with the diffusion call
    replaced by a cheap frame generator: Python-side peak memory must not grow with the frame count."""
    import tracemalloc

    def fake_frame(self, frame, previous, on_step=None):
        for _ in range(self.steps_of(frame)):
            on_step()
        return (previous.astype(np.uint16) + 37 + frame).astype(np.uint8)  # each frame from the previous one

    monkeypatch.setattr(animate.Animator, "make_frame", fake_frame)
    peaks = {}
    for count in (6, 24, 240):  # the first run pays one-off costs (imports, caches): a warm-up
        sched = schedule.parse_schedule("0: a\n4: b", count, fps=12.0)
        clip = video.StreamingClip(tmp_path / f"run{count}", count, 12.0, chunk_frames=24, preview_frames=4, key="k")
        tracemalloc.start()
        result = animate.animate(pipeline, *inputs, sched, SETTINGS, clip=clip)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.frames.shape[0] == 4 and clip.written == count
    frame_bytes = SIZE * SIZE * 3
    assert peaks[240] - peaks[24] < 10 * frame_bytes, peaks  # 216 more frames held would be 216 x frame_bytes


def test_interrupt_stops_within_a_frame(pipeline, inputs, monkeypatch):
    calls = []
    hook = pipeline.pipe.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    original = host.Progress.update

    def update_then_stop(self, steps=1, preview_image=None):
        if self.current == 2:
            host.request_interrupt()  # the user presses stop during frame 1's first step
        original(self, steps, preview_image)

    monkeypatch.setattr(host.Progress, "update", update_then_stop)
    try:
        with pytest.raises(host.Interrupted):
            animate.animate(pipeline, *inputs, clip_schedule(), SETTINGS)  # 6 frames x 2 steps
    finally:
        hook.remove()
        host.clear_interrupt()
    assert len(calls) == 3  # frame 0's two steps and frame 1's first: stopped at the step, not the clip's end
    assert type(pipeline.pipe.unet.attn_processors["down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor"]
                ).__name__ != "CrossFrameAttnProcessor"
