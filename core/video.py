"""Video files from frames: mp4 (H.264) and webm (VP9) through imageio-ffmpeg's bundled ffmpeg, animated webp and gif
through Pillow; and a streaming clip writer that puts frames on disk as they are made and can resume after a stop.

Frames are uint8 arrays [H, W, 3]. `to_uint8` converts an IMAGE batch. The streaming writer (`StreamingClip`) keeps
each frame as a numbered PNG (lossless, so a resumed run can reload the previous frame exactly), pipes frames into the
current video chunk, and after each finished chunk joins the chunks into the clip file without re-encoding. Its memory
does not grow with the frame count: it holds one chunk encoder and a fixed number of preview frames.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from .images import to_uint8  # noqa: F401  (re-exported: the writers take its frames)

logger = logging.getLogger("LongForm")

VIDEO_FORMATS = ("mp4", "webm", "webp", "gif")
STREAM_FORMATS = ("mp4", "webm")
STATE_FILE = "state.json"
MAX_STATE_BYTES = 64_000  # a state is a few hundred bytes
SET_ASIDE_PREFIX = "set-aside-"  # where a run started over puts the earlier run's files
FRAME_PATTERN = "frame_{:06d}.png"

# Codec settings: H.264 at CRF 18 plays in every browser; VP9 constant quality (CRF 32, -b:v 0), row threads on.
_FFMPEG_SETTINGS = {
    "mp4": ("libx264", ["-crf", "18", "-preset", "medium", "-movflags", "+faststart"]),
    "webm": ("libvpx-vp9", ["-crf", "32", "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"]),
}
# Chunks that are joined by stream copy: H.264 B-frames give each chunk mp4 an edit list, which the join turns into
# a wrong stream duration (ffmpeg-based readers then repeat frames), so chunks are encoded without B-frames.
_JOINABLE = {"mp4": ["-bf", "0"], "webm": []}
# yuv420p needs even sides: an odd side gets one black row or column rather than a resize.
_EVEN_PAD = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]


def check_format(video_format: str, allowed: tuple[str, ...] = VIDEO_FORMATS, field_name: str = "format") -> str:
    """`video_format` lower-cased, or ValueError naming the allowed ones."""
    name = str(video_format).lower().lstrip(".")
    if name not in allowed:
        raise ValueError(f"'{field_name}' is {video_format!r}; choose one of {', '.join(allowed)}.")
    return name


def check_fps(fps: float) -> float:
    """`fps` as a finite float above 0, or ValueError."""
    if not math.isfinite(float(fps)) or not float(fps) > 0:
        raise ValueError(f"'fps' is {fps}; give frames per second above 0 (8 to 24 is typical).")
    return float(fps)


def frame_durations_ms(count: int, fps: float, unit_ms: int = 1) -> list[int]:
    """Per-frame durations in whole `unit_ms` steps whose running sum tracks i x 1000 / fps (no drift over a clip)."""
    step = 1000.0 / fps / unit_ms
    return [unit_ms * (round((i + 1) * step) - round(i * step)) for i in range(count)]


# ------------------------------------------------------------------------------------------------------ whole clips


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float, loop: bool = True) -> Path:
    """Write uint8 `frames` to `path`; the format comes from its suffix (.mp4, .webm, .webp, .gif).

    `loop`: webp and gif loop forever (else play once); mp4 and webm carry no loop flag (players decide).
    """
    path = Path(path)
    video_format = check_format(path.suffix, field_name="file suffix")
    fps = check_fps(fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    if video_format in STREAM_FORMATS:
        writer = FfmpegWriter(path, fps)
        try:
            for frame in frames:
                writer.append(frame)
        finally:
            writer.close()
        if writer.count == 0:
            raise ValueError("'images' holds no frames: a video needs at least one.")
        return check_written(path)
    pictures = [Image.fromarray(_check_frame(frame)) for frame in frames]
    if not pictures:
        raise ValueError("'images' holds no frames: a video needs at least one.")
    _save_animation(pictures, path, video_format, fps, loop)
    return check_written(path)


def check_written(path: Path) -> Path:
    """`path` when the writer left a non-empty file there; else an error, so that a node never reports a missing file."""
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"The video writer reported success but left no file at {path}; nothing was saved. Check "
                           "that the output folder is writable and has room, then queue again.")
    return path


def _save_animation(pictures: list[Image.Image], path: Path, video_format: str, fps: float, loop: bool) -> None:
    """Animated webp (lossy, quality 90) or gif (one palette per frame) with Pillow."""
    options: dict = {"save_all": True, "append_images": pictures[1:]}
    if video_format == "gif":
        # GIF stores centiseconds; Pillow merges identical consecutive frames and adds their durations.
        options["duration"] = frame_durations_ms(len(pictures), fps, unit_ms=10)
        if loop:
            options["loop"] = 0
    else:
        options.update(duration=frame_durations_ms(len(pictures), fps), loop=0 if loop else 1, quality=90, method=4)
    pictures[0].save(path, format=video_format.upper() if video_format == "gif" else "WEBP", **options)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    """A uint8 [H, W, 3] frame, or ValueError."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        described = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"A video frame must be a uint8 array [height, width, 3]; got {described}.")
    return frame


class FfmpegWriter:
    """Frames piped one by one into ffmpeg (H.264 mp4 or VP9 webm); `close()` finishes the file. `joinable`: a chunk
    that `concat_videos` will join to others."""

    def __init__(self, path: Path, fps: float, joinable: bool = False):
        self.path, self.fps, self.joinable = Path(path), fps, joinable
        self.count = 0
        self._generator = None
        self._size: tuple[int, int] | None = None

    def append(self, frame: np.ndarray) -> None:
        """Encode one uint8 [H, W, 3] frame; every frame must have the first one's size."""
        frame = _check_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._generator is None:
            self._size = size
            self._generator = self._start(size)
        elif size != self._size:
            raise ValueError(f"Frame {self.count} is {size[0]}x{size[1]}, the clip is {self._size[0]}x{self._size[1]}: "
                             "every frame of a video must have one size.")
        self._generator.send(np.ascontiguousarray(frame))
        self.count += 1

    def _start(self, size: tuple[int, int]):
        import imageio_ffmpeg

        video_format = check_format(self.path.suffix, STREAM_FORMATS, "file suffix")
        codec, params = _FFMPEG_SETTINGS[video_format]
        if self.joinable:
            params = params + _JOINABLE[video_format]
        generator = imageio_ffmpeg.write_frames(
            str(self.path), size, fps=self.fps, codec=codec, pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            quality=None, macro_block_size=1, ffmpeg_log_level="error", output_params=params + _EVEN_PAD,
        )
        generator.send(None)
        return generator

    def close(self) -> None:
        """Finish the file (safe to call twice); RuntimeError when ffmpeg failed to write it."""
        if self._generator is not None:
            generator, self._generator = self._generator, None
            try:
                generator.close()
            except (OSError, RuntimeError) as error:  # imageio-ffmpeg reports a failed ffmpeg as these
                raise RuntimeError(f"ffmpeg could not write {self.path.name}: {error}") from None


def concat_videos(parts: list[Path], target: Path) -> Path:
    """Join same-codec video files into `target` without re-encoding (ffmpeg's concat demuxer, stream copy)."""
    import imageio_ffmpeg

    listing = target.with_name(target.name + ".parts.txt")
    quoted = (part.resolve().as_posix().replace("'", "'\\''") for part in parts)  # the concat list's quoting
    listing.write_text("".join(f"file '{path}'\n" for path in quoted), encoding="utf-8")
    partial = target.with_name(target.stem + ".partial" + target.suffix)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "concat", "-safe", "0",
               "-i", str(listing), "-c", "copy", str(partial)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    listing.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not join {len(parts)} chunks into {target.name}: {result.stderr.strip()}")
    os.replace(partial, target)
    return target


# ------------------------------------------------------------------------------------------------------- streaming


def fingerprint(*parts) -> str:
    """A short hash of everything that decides a clip's frames (settings, prompts, input image bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            part = part.detach().cpu().contiguous().numpy()
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype, part.shape)).encode())
            digest.update(part.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def preview_indices(frame_count: int, preview_frames: int) -> list[int]:
    """Up to `preview_frames` evenly spaced frame indices of a clip, first and last included."""
    if preview_frames <= 0:
        return []
    if preview_frames >= frame_count:
        return list(range(frame_count))
    if preview_frames == 1:
        return [0]
    return sorted({round(i * (frame_count - 1) / (preview_frames - 1)) for i in range(preview_frames)})


@dataclass
class StreamingClip:
    """Frames to disk as they come: `<directory>/frames/frame_NNNNNN.png`, the video in chunks, `state.json`.

    `open(resume=True)` continues a stopped run with the same `key` (a fingerprint of its settings) from the last frame
    written; any other run in the folder is an error unless `resume` is off, which starts over. `state.json` is data,
    never a source of paths (any API client can replace it through ComfyUI's upload route): every file name is derived
    from the run folder and a frame or chunk index, and a state that does not fit this run is refused, leaving the
    folder as it was.
    """

    directory: Path
    frame_count: int
    fps: float
    video_format: str = "mp4"
    chunk_frames: int = 48
    preview_frames: int = 16
    key: str = ""
    written: int = 0
    previews: dict[int, np.ndarray] = field(default_factory=dict)
    _chunks: int = 0  # finished chunk files, chunk_00000 .. chunk_{n-1}
    _writer: FfmpegWriter | None = None

    def __post_init__(self):
        self.directory = Path(self.directory)
        self.video_format = check_format(self.video_format, STREAM_FORMATS, "video_format")
        self.fps = check_fps(self.fps)
        if int(self.chunk_frames) < 1:
            raise ValueError(f"'chunk_frames' is {self.chunk_frames}; give at least 1 frame per chunk.")
        self._preview_set = set(preview_indices(self.frame_count, self.preview_frames))

    @property
    def frames_dir(self) -> Path:
        return self.directory / "frames"

    @property
    def video_path(self) -> Path:
        return self.directory / f"{self.directory.name}.{self.video_format}"

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / FRAME_PATTERN.format(index)

    def _chunk_path(self, chunk: int) -> Path:
        return self.directory / "chunks" / f"chunk_{chunk:05d}.{self.video_format}"

    # ---------------------------------------------------------------------------------------------------- life cycle

    def open(self, resume: bool = True) -> int:
        """Prepare the folder and return the index of the next frame to make (0 unless resuming).

        With `resume` off the folder's state is not read at all: the files this writer makes (an earlier run's, or
        ones uploaded into the folder) are set aside into a dated subfolder and the run starts clean, so no file in
        the folder can block a run name.
        """
        state = self._read_state() if resume else None
        if state is not None:
            theirs = (state.get("key"), state.get("frame_count"), state.get("format"), state.get("chunk_frames"))
            ours = (self.key, self.frame_count, self.video_format, self.chunk_frames)
            if theirs != ours:
                raise ValueError(
                    f"'{self.directory.name}' holds a run with other settings (key, frames, format, chunk: {theirs}; "
                    f"this run: {ours}). Choose another run name, or turn 'resume' off to start that folder over (its "
                    f"files are moved into a '{SET_ASIDE_PREFIX}<date>' subfolder)."
                )
            self.written = self._count_frames(state["written"])
            self._chunks = self._count_chunks(state["chunks"])
            self._reopen_chunk()
            self.previews = {i: self.load_frame(i) for i in sorted(self._preview_set) if i < self.written}
            logger.info("Resuming %s at frame %d of %d.", self.directory, self.written, self.frame_count)
            return self.written
        aside = self._set_aside()
        if aside is not None:
            logger.info("Starting %s over ('resume' is off, or it held no state): the earlier files are in %s.",
                        self.directory, aside.name)
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self.written, self._chunks, self.previews = 0, 0, {}
        self._write_state()
        return 0

    def append(self, frame: np.ndarray) -> None:
        """Store the next frame: its PNG, the current chunk, the preview set; finish the chunk when full."""
        if self.written >= self.frame_count:
            raise ValueError(f"The clip already has all its {self.frame_count} frames.")
        frame = _check_frame(frame)
        index = self.written
        self._atomic_png(frame, self.frame_path(index))
        self._chunk_writer().append(frame)
        if index in self._preview_set:
            self.previews[index] = frame.copy()
        self.written += 1
        if self.written % self.chunk_frames == 0 or self.written == self.frame_count:
            self._finish_chunk()
        self._write_state()

    def load_frame(self, index: int) -> np.ndarray:
        """Frame `index` reloaded from its PNG (bit-exact)."""
        path = self.frame_path(index)
        if not path.exists():
            raise FileNotFoundError(f"Frame {index} of '{self.directory}' is missing ({path.name}); "
                                    "turn 'resume' off to make the clip again.")
        with Image.open(path) as picture:
            return np.asarray(picture.convert("RGB")).copy()

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames `start`..`stop` (default: all written) reloaded one at a time."""
        for index in range(start, self.written if stop is None else stop):
            yield self.load_frame(index)

    def preview(self) -> list[np.ndarray]:
        """The preview frames written so far, in order."""
        return [self.previews[i] for i in sorted(self.previews)]

    def close(self) -> None:
        """Finish the open chunk file (a stopped run: the chunk is redone from PNGs on resume)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ------------------------------------------------------------------------------------------------------ internals

    def _chunk_writer(self) -> FfmpegWriter:
        if self._writer is None:
            path = self._chunk_path(self._chunks)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = FfmpegWriter(path, self.fps, joinable=True)
        return self._writer

    def _finish_chunk(self) -> None:
        """Close the chunk, record it, and refresh the clip file so it plays every frame written so far."""
        writer = self._chunk_writer()
        writer.close()
        self._writer = None
        self._chunks += 1
        concat_videos([self._chunk_path(index) for index in range(self._chunks)], self.video_path)

    def _reopen_chunk(self) -> None:
        """Re-encode the frames of an unfinished chunk from their PNGs (its file was cut off by the stop)."""
        done = min(self._chunks * self.chunk_frames, self.frame_count)  # frames the finished chunks hold
        if done > self.written:  # frame files missing behind the recorded chunks: trust the frames
            self._chunks = self.written // self.chunk_frames
            done = self._chunks * self.chunk_frames
        for frame in self.iter_frames(done, self.written):
            self._chunk_writer().append(frame)
        chunk_full = self.written % self.chunk_frames == 0 or self.written == self.frame_count
        if done < self.written and chunk_full:
            self._finish_chunk()

    def _count_frames(self, claimed: int) -> int:
        """Frames 0..n-1 that exist on disk, up to what the state claims."""
        count = 0
        while count < claimed and self.frame_path(count).exists():
            count += 1
        return count

    def _count_chunks(self, claimed: int) -> int:
        """Chunk files 0..n-1 that exist on disk, up to what the state claims."""
        count = 0
        while count < claimed and self._chunk_path(count).is_file():
            count += 1
        return count

    def _set_aside(self) -> Path | None:
        """Move what this writer makes (frames/, chunks/, state.json, the clip video in any stream format) into a new
        subfolder `set-aside-<UTC date and time>`; other files stay. Returns that subfolder, None when nothing was
        there."""
        self.close()
        state = self.directory / STATE_FILE
        own = [self.frames_dir, self.directory / "chunks", state, state.with_suffix(".tmp"),
               *(self.directory / f"{self.directory.name}.{fmt}" for fmt in STREAM_FORMATS)]
        present = [path for path in own if path.exists() or path.is_symlink()]
        if not present:
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        aside = self.directory / f"{SET_ASIDE_PREFIX}{stamp}"
        suffix = 1
        while aside.exists():
            suffix += 1
            aside = self.directory / f"{SET_ASIDE_PREFIX}{stamp}-{suffix}"
        aside.mkdir()
        for path in present:
            os.replace(path, aside / path.name)
        return aside

    def _read_state(self) -> dict | None:
        """The folder's state, checked to be this writer's own format; ValueError (folder untouched) when it is not."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return None
        if not path.is_file() or path.stat().st_size > MAX_STATE_BYTES:
            raise self._state_error("it is not a small JSON file")
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise self._state_error(f"it is not valid JSON ({error})") from None
        if not isinstance(state, dict):
            raise self._state_error("it is not a JSON object")
        chunks = state.get("chunks")
        if isinstance(chunks, list):  # written by an earlier version: names, accepted only as the derived ones
            if chunks != [self._chunk_path(index).name for index in range(len(chunks))]:
                raise self._state_error("its chunk list names files this writer does not make")
            state["chunks"] = chunks = len(chunks)
        most_chunks = -(-self.frame_count // self.chunk_frames)
        for name, kind in (("key", str), ("frame_count", int), ("format", str), ("chunk_frames", int),
                           ("written", int)):
            if not isinstance(state.get(name), kind) or isinstance(state.get(name), bool):
                raise self._state_error(f"'{name}' is missing or not a {kind.__name__}")
        if not 0 <= state["written"] <= state["frame_count"]:
            raise self._state_error(f"'written' {state['written']} is outside 0..{state['frame_count']}")
        if not isinstance(chunks, int) or isinstance(chunks, bool) or not 0 <= chunks <= most_chunks:
            raise self._state_error(f"'chunks' must be a count from 0 to {most_chunks}")
        return state

    def _state_error(self, problem: str) -> ValueError:
        return ValueError(
            f"The run folder '{self.directory.name}' has a {STATE_FILE} that does not fit this run: {problem}. It was "
            "changed outside LongForm, so nothing was resumed and the folder was left as it was. Turn 'resume' off to "
            f"start that folder over (its files are moved into a '{SET_ASIDE_PREFIX}<date>' subfolder), or choose "
            "another run name."
        )

    def _write_state(self) -> None:
        state = {"key": self.key, "frame_count": self.frame_count, "fps": self.fps, "format": self.video_format,
                 "chunk_frames": self.chunk_frames, "written": self.written, "chunks": self._chunks}
        target = self.directory / STATE_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(temporary, target)

    @staticmethod
    def _atomic_png(frame: np.ndarray, path: Path) -> None:
        """Write a PNG under a temporary name then rename it, so a stop never leaves half a frame."""
        temporary = path.with_name(path.stem + ".tmp.png")
        Image.fromarray(frame).save(temporary, compress_level=1)
        os.replace(temporary, path)


MAX_LOADED_BYTES = 2**31  # a streamed run read back whole (float32 IMAGE) for a report: 2 GiB at most


def streamed_run_frames(video_path: str, frame_count: int, field: str = "video_path") -> torch.Tensor:
    """Every frame of a streamed run, read back from its PNGs as an IMAGE batch [N, H, W, 3] in 0..1.

    `video_path` is the animator's video file; it must lie in the output folder (the path rule), and the frames are
    found from its run folder and the frame index alone.
    """
    from . import host
    from .paths import inside

    root = host.output_dir().resolve()
    video = Path(str(video_path).strip())
    if not video.is_absolute() or not inside(video, [root]) or not video.is_file():
        raise ValueError(f"'{field}' is {str(video_path)[:200]!r}: connect LF Animate's video_path in 'stream to "
                         f"disk' mode; it names a finished run's video inside the output folder {root}.")
    clip = StreamingClip(video.resolve().parent, frame_count, fps=1.0)
    if not clip.frame_path(0).is_file():
        raise _missing(clip, 0)
    with Image.open(clip.frame_path(0)) as picture:
        width, height = picture.size
    if frame_count * height * width * 3 * 4 > MAX_LOADED_BYTES:
        raise ValueError(f"The run '{clip.directory.name}' has {frame_count} frames of {width}x{height}: too many to "
                         "report on at once (2 GiB). Report on a shorter clip or smaller frames.")
    frames = torch.empty((frame_count, height, width, 3), dtype=torch.float32)
    for index in range(frame_count):
        if not clip.frame_path(index).is_file():
            raise _missing(clip, index)
        frame = torch.from_numpy(clip.load_frame(index))
        if frame.shape != frames.shape[1:]:
            raise ValueError(f"Frame {index} of the run '{clip.directory.name}' is {frame.shape[1]}x{frame.shape[0]}, "
                             f"not {width}x{height}: the run folder was changed; make the clip again.")
        frames[index] = frame.float() / 255.0
        if index % 64 == 0:
            host.check_interrupt()
    return frames


def _missing(clip: "StreamingClip", index: int) -> FileNotFoundError:
    return FileNotFoundError(f"The run '{clip.directory.name}' has no frame {index} ({clip.frame_path(index).name}): "
                            "it is unfinished. Queue LF Animate again with 'resume' on to finish it, then the report.")


def output_subdir(name: str, root: Path, field_name: str) -> Path:
    """`root/name` for a name the path rule accepts (core/paths.py `safe_name`: no NUL, no absolute path, no `..`, a
    length limit), or ValueError naming `field_name`; also when a symlink would lead it out of `root`."""
    from .paths import inside, safe_name

    root = Path(root).resolve()
    target = root / safe_name(name, field_name)
    if not inside(target, [root]):
        raise ValueError(f"'{field_name}' is {name!r}: it leads outside the output folder {root} (a symlink); "
                         "choose another name.")
    return target


def next_output_path(prefix: str, suffix: str, root: Path) -> Path:
    """`root/<subfolder>/<name>_NNNNN_.<suffix>` with the next free counter for `prefix` ("sub/name" allowed).

    ValueError when `prefix` would leave `root`.
    """
    target = output_subdir(prefix, root, "filename_prefix")
    target_dir, name = target.parent, target.name
    target_dir.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^{re.escape(name)}_(\d+)_\.")
    used = [int(match.group(1)) for path in target_dir.iterdir() if (match := pattern.match(path.name))]
    counter = max(used, default=0) + 1
    return target_dir / f"{name}_{counter:05d}_.{suffix}"


def ui_entry(path: Path, root: Path) -> dict:
    """ComfyUI's description of a file in the output folder `root`, for a node's {"ui": {"images": [...]}} preview."""
    subfolder = Path(path).resolve().parent.relative_to(Path(root).resolve()).as_posix()
    return {"filename": Path(path).name, "subfolder": "" if subfolder == "." else subfolder, "type": "output"}


def ui_preview(path: Path, root: Path) -> dict:
    """A node's {"ui": ...} preview of a video or animation file in the output folder `root`.

    ComfyUI's frontend plays every "animated" file but webp and png in a <video> element, which cannot play a gif: a
    gif is shown as an image (which animates by itself), everything else as animated.
    """
    return {"images": [ui_entry(path, root)], "animated": (Path(path).suffix.lower() != ".gif",)}
