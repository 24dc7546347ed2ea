"""Video files: every format read back with its frame count and fps; the streaming writer's memory and resume."""

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from longform_pack.core import video


def fake_frames(count, size=64, seed=0):
    """Distinct frames (no two identical: GIF would merge them)."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        frame[0, 0] = (index % 256, index // 256, 7)
        yield frame


def read_back(path):
    """(frame count, fps, size) of a written file: imageio's ffmpeg plugin for mp4/webm, Pillow for webp/gif."""
    if path.suffix in (".mp4", ".webm"):
        import imageio.v3 as iio

        frames = iio.imread(path, plugin="FFMPEG", index=None)
        return len(frames), iio.immeta(path, plugin="FFMPEG")["fps"], frames.shape[1:3]
    with Image.open(path) as picture:
        durations = []
        for index in range(picture.n_frames):
            picture.seek(index)
            picture.load()
            durations.append(picture.info["duration"])
        return picture.n_frames, 1000.0 * picture.n_frames / sum(durations), picture.size[::-1]


@pytest.mark.parametrize("video_format", video.VIDEO_FORMATS)
def test_every_format_reads_back_with_count_and_fps(tmp_path, video_format):
    path = video.write_video(fake_frames(30), tmp_path / f"clip.{video_format}", fps=12, loop=True)
    count, fps, size = read_back(path)
    assert count == 30
    assert fps == pytest.approx(12, rel=0.01)
    assert tuple(size) == (64, 64)


def test_loop_flag_in_gif_and_webp(tmp_path):
    for suffix in ("gif", "webp"):
        looping = video.write_video(fake_frames(3), tmp_path / f"a.{suffix}", fps=8, loop=True)
        once = video.write_video(fake_frames(3), tmp_path / f"b.{suffix}", fps=8, loop=False)
        with Image.open(looping) as a, Image.open(once) as b:
            assert a.info.get("loop") == 0
            assert b.info.get("loop") != 0


def test_odd_sizes_are_padded_for_h264(tmp_path):
    frames = [frame[:63, :45] for frame in fake_frames(4)]
    count, _, size = read_back(video.write_video(frames, tmp_path / "odd.mp4", fps=8))
    assert count == 4 and tuple(size) == (64, 46)


def test_bad_inputs_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="'file suffix'"):
        video.write_video(fake_frames(2), tmp_path / "clip.avi", fps=8)
    with pytest.raises(ValueError, match="'fps'"):
        video.write_video(fake_frames(2), tmp_path / "clip.gif", fps=0)
    with pytest.raises(ValueError, match="no frames"):
        video.write_video([], tmp_path / "clip.webp", fps=8)
    with pytest.raises(ValueError, match="uint8"):
        video.write_video([np.zeros((8, 8, 3), np.float32)], tmp_path / "clip.gif", fps=8)
    with pytest.raises(ValueError, match="'video_format'"):
        video.StreamingClip(tmp_path / "s", 10, 8, video_format="gif")


def test_durations_do_not_drift():
    durations = video.frame_durations_ms(120, 12, unit_ms=10)
    assert sum(durations) == 10000 and set(durations) <= {80, 90}


def stream(directory, count, chunk=8, stop_after=None, resume=True, key="k", fmt="mp4"):
    """Write `count` fake frames through a StreamingClip; stop (as an interrupt would) after `stop_after`."""
    clip = video.StreamingClip(directory, count, 12, video_format=fmt, chunk_frames=chunk, preview_frames=5, key=key)
    start = clip.open(resume=resume)
    try:
        for index, frame in enumerate(fake_frames(count)):
            if index < start:
                continue
            if stop_after is not None and index == stop_after:
                raise KeyboardInterrupt
            clip.append(frame)
    finally:
        clip.close()
    return clip, start


def test_streaming_writes_pngs_chunks_and_a_playable_clip(tmp_path):
    clip, _ = stream(tmp_path / "run", 20, chunk=8)
    assert len(list(clip.frames_dir.glob("*.png"))) == 20
    assert len(list((clip.directory / "chunks").iterdir())) == 3
    count, fps, _ = read_back(clip.video_path)
    assert count == 20 and fps == pytest.approx(12)
    assert [index for index in sorted(clip.previews)] == video.preview_indices(20, 5) == [0, 5, 10, 14, 19]
    first = next(fake_frames(1))
    assert np.array_equal(clip.load_frame(0), first)  # PNG frames are lossless


@pytest.mark.parametrize("fmt", video.STREAM_FORMATS)
def test_streaming_resume_after_interrupt_matches_an_uninterrupted_run(tmp_path, fmt):
    whole, _ = stream(tmp_path / "whole", 21, chunk=8, fmt=fmt)
    with pytest.raises(KeyboardInterrupt):
        stream(tmp_path / "cut", 21, chunk=8, stop_after=11, fmt=fmt)
    resumed, start = stream(tmp_path / "cut", 21, chunk=8, fmt=fmt)
    assert start == 11
    for index in range(21):
        assert np.array_equal(whole.load_frame(index), resumed.load_frame(index))
    count, fps, _ = read_back(resumed.video_path)  # chunks of 8, 8 and 5 joined: no frame repeated or lost
    assert count == 21 and fps == pytest.approx(12)
    import imageio.v3 as iio

    decoded = [iio.imread(clip.video_path, plugin="FFMPEG", index=None) for clip in (whole, resumed)]
    assert np.array_equal(*decoded)
    assert sorted(resumed.previews) == sorted(whole.previews)


def test_resume_refuses_another_runs_folder_and_resume_off_starts_over(tmp_path):
    stream(tmp_path / "run", 10, key="first")
    with pytest.raises(ValueError, match="another run name"):
        stream(tmp_path / "run", 10, key="second")
    with pytest.raises(ValueError, match="another run name"):
        stream(tmp_path / "run", 10, key="first", fmt="webm")
    _, start = stream(tmp_path / "run", 10, key="second", resume=False)
    assert start == 0


def test_streaming_peak_memory_is_flat_in_frame_count(tmp_path):
    peaks = {}
    for count in (24, 240):
        tracemalloc.start()
        stream(tmp_path / f"run{count}", count, chunk=24)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    frame_bytes = 64 * 64 * 3
    # Ten times the frames: the peak stays within a few frames' worth, far from the 216 extra frames held in memory.
    assert peaks[240] - peaks[24] < 8 * frame_bytes, peaks


def test_reopening_a_finished_run_changes_nothing(tmp_path):
    clip, _ = stream(tmp_path / "run", 10, chunk=4)
    chunks = sorted((clip.directory / "chunks").iterdir())
    stamps = [path.stat().st_mtime_ns for path in chunks]
    again, start = stream(tmp_path / "run", 10, chunk=4)
    assert start == 10 and sorted(again.previews) == sorted(clip.previews)
    assert [path.stat().st_mtime_ns for path in chunks] == stamps  # no chunk re-encoded
    assert read_back(again.video_path)[0] == 10
