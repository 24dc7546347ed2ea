"""The stitch: the film's frames in order, its crossfades, and one video joined without re-encoding the scenes.

Each scene's and each morph's clip is already an H.264 mp4 made of joinable chunks (core/video.py's streaming
writer); a crossfade's frames are encoded the same way into a short segment of their own; ffmpeg's concat demuxer
then joins every segment by stream copy, so no rendered frame is encoded twice. A video-engine scene is assembled
from its chunks first: each chunk's first `overlap` frames blended with the previous chunk's last (linear weights,
core/film/continuity.py), cut at the scene's length, encoded the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .. import host
from ..video import FRAME_PATTERN, FfmpegWriter, concat_videos
from .plan import CLIP_FOLDER, FRAMES_FOLDER, FilmPlan
from .storyboard import Scene, Segment


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
    if segment.kind == "scene" and scenes[segment.scene].engine.chunked:
        folder = plan.scene_dir(scenes[segment.scene]) / FRAMES_FOLDER
        return [folder / FRAME_PATTERN.format(i) for i in range(segment.count)]
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
    if segment.kind == "scene" and scenes[segment.scene].engine.chunked:
        return _scene_video(plan, scenes[segment.scene])
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


def assemble_scene(plan: FilmPlan, scene: Scene) -> Path:
    """A video-engine scene's frames from its chunks, the overlaps blended, as PNGs and a joinable clip; its path."""
    import torch

    from ..images import from_pil, to_uint8
    from .continuity import blend_overlap

    overlap, chunk = plan.board.video["overlap"], plan.board.video["chunk"]
    folder = plan.scene_dir(scene)
    (folder / FRAMES_FOLDER).mkdir(parents=True, exist_ok=True)
    writer = FfmpegWriter(_scene_video(plan, scene), plan.board.fps, joinable=True)
    written = 0

    def write(frames: torch.Tensor) -> None:
        nonlocal written
        for frame in to_uint8(frames[: scene.frame_count - written]):
            Image.fromarray(frame).save(folder / FRAMES_FOLDER / FRAME_PATTERN.format(written), compress_level=1)
            writer.append(frame)
            written += 1

    try:
        pending = None  # frames not written yet: the last chunk's, whose tail the next chunk blends into
        for unit_id in plan.chunk_ids(scene):
            host.check_interrupt()
            missing = [path for path in (plan.chunk_frame_path(unit_id, i) for i in range(chunk)) if not path.exists()]
            if missing:
                raise FileNotFoundError(f"The film cannot be stitched: {missing[0]} is missing; render the film again "
                                        "(finished units are skipped).")
            frames = from_pil([_open(plan.chunk_frame_path(unit_id, i)) for i in range(chunk)])
            if pending is not None:
                write(pending[:-overlap])
                frames = torch.cat([blend_overlap(pending[-overlap:], frames[:overlap]), frames[overlap:]])
            pending = frames
        write(pending)
    finally:
        writer.close()
    return writer.path


def _scene_video(plan: FilmPlan, scene: Scene) -> Path:
    return plan.scene_dir(scene) / f"{CLIP_FOLDER}.mp4"


def chunk_boundaries(plan: FilmPlan) -> list[dict]:
    """Where each video-engine scene's chunks join on the film's time line: the first frame of each chunk after the
    first (the first of the `overlap` frames blended across), with its scene and chunk index."""
    scenes, found = plan.board.scenes, []
    for segment in plan.board.timeline():
        scene = scenes[segment.scene]
        if segment.kind == "scene" and scene.engine.chunked:
            found += [{"frame": segment.start + plan.chunk_start(index), "scene": scene.name, "chunk": index,
                       "overlap": plan.board.video["overlap"]} for index in range(1, plan.chunk_count(scene))]
    return found


def _open(path: Path):
    with Image.open(path) as picture:
        return picture.convert("RGB")


def _neighbour(plan: FilmPlan, segment: Segment, step: int) -> Segment:
    timeline = plan.board.timeline()
    return timeline[timeline.index(segment) + step]


def stitch(plan: FilmPlan) -> Path:
    """Assemble the chunked scenes, write the crossfades and join every segment into `plan.video_path` by stream
    copy; return its path."""
    for scene in plan.board.scenes:
        if scene.engine.chunked:
            assemble_scene(plan, scene)
    parts = [_segment_video(plan, segment) for segment in plan.board.timeline()]
    missing = [str(part) for part in parts if not part.exists()]
    if missing:
        raise FileNotFoundError(f"The film cannot be stitched: {', '.join(missing)} missing; render the film again "
                                "(finished units are skipped).")
    return concat_videos(parts, plan.video_path)
