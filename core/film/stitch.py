"""The stitch: the film's frames in order, its crossfades, and one video joined without re-encoding the scenes.

Each scene's and each morph's clip is already an H.264 mp4 made of joinable chunks (core/video.py's streaming
writer); a crossfade's frames are encoded the same way into a short segment of their own; ffmpeg's concat demuxer
then joins every segment by stream copy, so no rendered frame is encoded twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..video import FRAME_PATTERN, FfmpegWriter, concat_videos
from .plan import FilmPlan
from .storyboard import Segment


def crossfade(last: np.ndarray, first: np.ndarray, count: int) -> list[np.ndarray]:
    """`count` frames dissolving `last` into `first` (uint8): frame i is (1 - t) last + t first, t = (i + 1) / (count + 1),
    so neither end frame is repeated."""
    a, b = last.astype(np.float32), first.astype(np.float32)
    return [np.round(a + (b - a) * ((i + 1) / (count + 1))).astype(np.uint8) for i in range(count)]


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB")).copy()


def _crossfade_dir(plan: FilmPlan, segment: Segment) -> Path:
    scenes = plan.board.scenes
    return plan.film_dir / f"crossfade-{scenes[segment.scene].name}-{scenes[segment.scene + 1].name}"


def segment_frames(plan: FilmPlan, segment: Segment) -> list[Path]:
    """The PNG files of one stretch of the film's time line, in order."""
    scenes = plan.board.scenes
    if segment.kind == "scene":
        unit_id = f"animate-{scenes[segment.scene].name}"
    elif segment.kind == "morph":
        unit_id = f"morph-{scenes[segment.scene].name}-{scenes[segment.scene + 1].name}"
    else:
        return [_crossfade_dir(plan, segment) / "frames" / FRAME_PATTERN.format(i) for i in range(segment.count)]
    return [plan.frame_path(unit_id, i) for i in range(segment.count)]


def film_frames(plan: FilmPlan) -> list[Path]:
    """Every frame of the film, in order, as PNG files."""
    return [path for segment in plan.board.timeline() for path in segment_frames(plan, segment)]


def _segment_video(plan: FilmPlan, segment: Segment) -> Path:
    """The video of one stretch: a rendered clip as it is, a crossfade encoded from its neighbours' frames."""
    scenes = plan.board.scenes
    if segment.kind == "scene":
        return plan.clip_video(f"animate-{scenes[segment.scene].name}")
    if segment.kind == "morph":
        return plan.clip_video(f"morph-{scenes[segment.scene].name}-{scenes[segment.scene + 1].name}")
    before = segment_frames(plan, _neighbour(plan, segment, -1))[-1]
    after = segment_frames(plan, _neighbour(plan, segment, +1))[0]
    folder = _crossfade_dir(plan, segment)
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    writer = FfmpegWriter(folder / "crossfade.mp4", plan.board.fps, joinable=True)
    try:
        for index, frame in enumerate(crossfade(_load(before), _load(after), segment.count)):
            Image.fromarray(frame).save(folder / "frames" / FRAME_PATTERN.format(index), compress_level=1)
            writer.append(frame)
    finally:
        writer.close()
    return writer.path


def _neighbour(plan: FilmPlan, segment: Segment, step: int) -> Segment:
    timeline = plan.board.timeline()
    return timeline[timeline.index(segment) + step]


def stitch(plan: FilmPlan) -> Path:
    """Write the crossfades and join every segment into `plan.video_path` by stream copy; return its path."""
    parts = [_segment_video(plan, segment) for segment in plan.board.timeline()]
    missing = [str(part) for part in parts if not part.exists()]
    if missing:
        raise FileNotFoundError(f"The film cannot be stitched: {', '.join(missing)} missing; render the film again "
                                "(finished units are skipped).")
    return concat_videos(parts, plan.video_path)
