"""Frame sources for the meter: an IMAGE batch, a video file (through imageio-ffmpeg's bundled ffmpeg, one frame at a
time) or a list of PNG frames (a film's run folders). Each gives its frames in order as uint8 chunks [n, H, W, 3], so
a pass over a 10-minute film holds one chunk, never the film.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..images import check_image_batch, to_uint8

CHUNK_FRAMES = 64
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")


class FrameSource:
    """Frames in order, a chunk at a time. `count` is exact for batches and files, an estimate for a video file
    (its container's duration x fps); `size` is (height, width)."""

    name: str
    fps: float
    count: int
    size: tuple[int, int]

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        """uint8 RGB chunks [n <= frames, H, W, 3] in frame order."""
        raise NotImplementedError

    def chunk_keys(self, frames: int = CHUNK_FRAMES, before: int = 1) -> Iterator[str | None]:
        """Per chunk, a key that changes when any of its frames (or the `before` frames before it, which its first
        pairs compare with) changes; None: not cacheable."""
        while True:
            yield None


@dataclass
class BatchFrames(FrameSource):
    """An IMAGE batch [N, H, W, C] in 0..1 (already in memory: chunks only bound the work, not the memory)."""

    images: torch.Tensor
    fps: float
    name: str = "images"

    def __post_init__(self):
        self.images = check_image_batch(self.images, "images")
        self.count = int(self.images.shape[0])
        self.size = (int(self.images.shape[1]), int(self.images.shape[2]))

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        for start in range(0, self.count, frames):
            yield to_uint8(self.images[start:start + frames])


class VideoFrames(FrameSource):
    """A video file decoded by ffmpeg (imageio-ffmpeg) one frame at a time."""

    def __init__(self, path: str | Path, fps: float | None = None):
        import imageio_ffmpeg

        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"'video' is {self.path.name!r}: give a video file ({', '.join(VIDEO_SUFFIXES)}).")
        reader = imageio_ffmpeg.read_frames(str(self.path))
        try:
            meta = next(reader)
        except (RuntimeError, OSError) as error:
            raise ValueError(f"'video' {self.path.name!r} could not be read as a video: {error}") from None
        finally:
            reader.close()
        self.name = self.path.name
        width, height = meta["size"]
        self.size = (int(height), int(width))
        detected = float(meta.get("fps") or 0.0)
        self.fps = float(fps) if fps else detected
        if not self.fps > 0:
            raise ValueError(f"'fps' is 0 and the video {self.name!r} does not say its frame rate: give the fps.")
        duration = float(meta.get("duration") or 0.0)
        self.count = max(1, round(duration * (detected or self.fps))) if math.isfinite(duration) else 1

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        import imageio_ffmpeg

        height, width = self.size
        reader = imageio_ffmpeg.read_frames(str(self.path))
        try:
            next(reader)
            buffer = []
            for data in reader:
                buffer.append(np.frombuffer(data, np.uint8).reshape(height, width, 3))
                if len(buffer) == frames:
                    yield np.stack(buffer)
                    buffer = []
            if buffer:
                yield np.stack(buffer)
        finally:
            reader.close()


class FileFrames(FrameSource):
    """PNG (or any picture) files in order, e.g. a film's frames across its run folders."""

    def __init__(self, paths: Sequence[Path], fps: float, name: str = "frames"):
        from PIL import Image

        if not paths:
            raise ValueError(f"'{name}' has no frames to measure.")
        self.paths, self.fps, self.name, self.count = list(paths), float(fps), name, len(paths)
        missing = [str(path) for path in self.paths if not Path(path).is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} frame(s) of {name!r} are missing, first {missing[0]}: render the "
                                    "film again (finished units are skipped).")
        with Image.open(self.paths[0]) as picture:
            self.size = (picture.height, picture.width)

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        from PIL import Image

        for start in range(0, self.count, frames):
            pictures = []
            for path in self.paths[start:start + frames]:
                with Image.open(path) as picture:
                    pictures.append(np.asarray(picture.convert("RGB")))
            yield np.stack(pictures)

    def chunk_keys(self, frames: int = CHUNK_FRAMES, before: int = 1) -> Iterator[str | None]:
        """A hash of the chunk's files (and the `before` files before it, which its first pairs compare with): name,
        size and modification time, so a re-rendered frame misses the cache and an untouched one hits it."""
        for start in range(0, self.count, frames):
            digest = hashlib.sha256()
            for path in self.paths[max(0, start - before):start + frames]:
                status = Path(path).stat()
                digest.update(f"{Path(path).resolve()}|{status.st_size}|{status.st_mtime_ns}\n".encode())
            yield digest.hexdigest()[:24]


def video_file(name: str, field: str = "video") -> Path:
    """A video file named from ComfyUI's input folder, else its output folder (the path rule), or a clear error."""
    from ..paths import readable_path

    try:
        return readable_path("input", name, field)
    except FileNotFoundError:
        try:
            return readable_path("output", name, field)
        except FileNotFoundError:
            from .. import host

            raise FileNotFoundError(f"'{field}' {name!r} is in neither ComfyUI's input folder ({host.input_dir()}) nor "
                                    f"its output folder ({host.output_dir()}); put the video there or pick a listed "
                                    "one.") from None


def list_videos() -> list[str]:
    """Video files in the input and output folders, as names `video_file` accepts (input first); the pieces of a
    streamed run (its `chunks/` folder) are left out: the run's own video is listed."""
    from .. import host

    names: list[str] = []
    for root in (host.input_dir(), host.output_dir()):
        if root.is_dir():
            names += sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                            if path.suffix.lower() in VIDEO_SUFFIXES and path.parent.name != "chunks"
                            and path.is_file())
    return list(dict.fromkeys(names))
