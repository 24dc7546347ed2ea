"""Prompt schedules: keyframed prompts parsed from text, per-frame weights, and the one blender of text encodings.

Two text forms are accepted (the whole text is one or the other):

    0: a sunny forest, a fox --neg blurry        # line form: `frame: prompt`, one keyframe per line
    2.5s: a stormy night, a fox                  # frames as numbers or seconds (`2.5s` = frame round(2.5 * fps))

    "0": "a sunny forest, a fox",                # FizzNodes JSON form (braces and a trailing comma optional)
    "24": "a stormy night, a fox --neg blurry"

`--neg` starts the keyframe's negative prompt; a keyframe without one uses the schedule's default negative. Blank
lines and lines starting with `#` are skipped in the line form. Every error is collected and reported at once, each
with its line and column. Before the first keyframe its prompt holds; after the last, the last one holds.

Between two keyframes a frame mixes them with a fraction `t` (0 at the left keyframe, 1 at the right one):
`linear` (t), `eased` (smoothstep 3t^2 - 2t^3), `slerp` (t, applied by spherical interpolation of every token's
embedding), `step` (holds the left keyframe until the next one).

`linear` is FizzNodes' BatchPromptSchedule weighting to the bit: t = (1 / (right - left)) * (frame - left), the left
keyframe weighs w = 1 - t, the right one 1 - w, and a frame's encoding is `left * w + right * (1 - w)`
(tests/test_schedule_fizznodes.py holds reference numbers from FizzNodes' own code). Where a keyframe's prompt holds,
its encoding is returned as CLIP made it, bit for bit.

`schedule_conditioning` turns a schedule into ComfyUI CONDITIONING with any CLIP that has ComfyUI's `tokenize` /
`encode_from_tokens`: one entry whose `cond` has a row per frame ([frames, 77, 768] for SD 1.5) and whose
`pooled_output` has one too ([frames, 768]), as FizzNodes' BatchPromptSchedule gives it, so KSampler over a latent
batch of that many frames samples frame i with row i.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from PIL import Image

from .checks import check_finite
from .host import progress
from .text import MAX_PROMPT_CHARS, check_prompt, issue_report, shorten

INTERPOLATIONS = ("linear", "eased", "slerp", "step")
# Bounds on work (SECURITY.md): any text an API client sends answers within seconds, as a schedule or an error.
MAX_TEXT_CHARS = 100_000
MAX_KEYFRAMES = 1_000
MAX_FRAMES = 36_000  # 600 s at 60 fps, the prompt schedule node's largest clip
# Per-frame conditioning holds a [frames, 77, 768] cond for each of positive and negative (about 0.5 MB a frame in
# fp32 for SD 1.5): longer films go scene by scene (a storyboard), not as one batch.
MAX_CONDITIONED_FRAMES = 2_400
DRAWN_PROMPTS = 12  # the timeline draws the prompts with the most weight; the rest share one "other" band
NEGATIVE_FLAG = "--neg"

PROMPT_HINT = (
    "Write one keyframe per line as `frame: prompt` (frames as 12 or 2.5s, an optional `--neg negative`), "
    'or the JSON form `"0": "prompt", "24": "prompt"`.'
)
VALUES_HINT = "Write one number for every frame, or one `frame: number` per line (frames as 12 or 2.5s)."

_SECONDS_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*s$")
_FRAME_RE = re.compile(r"^\d+$")
_OPTION_RE = re.compile(r"(?:^|\s)(--[A-Za-z][\w-]*)")


@dataclass(frozen=True)
class Keyframe:
    """One keyframe: the frame it sits on, its prompt and negative prompt, and the line it came from."""

    frame: int
    prompt: str
    negative: str
    line: int


@dataclass(frozen=True)
class ScheduleIssue:
    """One parse error at a 1-based line and column."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


class ScheduleError(ValueError):
    """A malformed schedule; `issues` holds every error found, each with its line and column."""

    def __init__(self, issues: list[ScheduleIssue], field: str = "schedule", hint: str = PROMPT_HINT):
        self.issues = sorted(issues, key=lambda issue: (issue.line, issue.column))
        super().__init__(issue_report(f"'{field}'", self.issues, hint))


@dataclass(frozen=True)
class PromptSchedule:
    """Parsed keyframes (sorted by frame) over a clip of `frame_count` frames, with an interpolation mode."""

    keyframes: tuple[Keyframe, ...]
    frame_count: int
    interpolation: str = "linear"
    fps: float | None = None

    @cached_property
    def _frames(self) -> tuple[int, ...]:
        return tuple(keyframe.frame for keyframe in self.keyframes)

    def segment(self, frame: int) -> tuple[int, int, float]:
        """(left keyframe index, right keyframe index, fraction t of the right one after easing) at `frame`."""
        frames = self._frames
        if frame <= frames[0]:
            return 0, 0, 0.0
        if frame >= frames[-1]:
            last = len(frames) - 1
            return last, last, 0.0
        right = bisect.bisect_right(frames, frame)  # the first keyframe after `frame`
        left = right - 1
        t = (1.0 / (frames[right] - frames[left])) * (frame - frames[left])  # FizzNodes' rounding, to the bit
        return left, right, ease(t, self.interpolation)

    def segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`segment` for every frame at once: left indices, right indices, eased fractions (time O(frames log K))."""
        frames = np.asarray(self._frames)
        positions = np.arange(self.frame_count)
        if len(frames) == 1:
            zeros = np.zeros(self.frame_count, dtype=np.int64)
            return zeros, zeros, np.zeros(self.frame_count)
        right = np.clip(np.searchsorted(frames, positions, side="right"), 1, max(len(frames) - 1, 1))
        left = right - 1
        span = np.maximum(frames[right] - frames[left], 1)
        raw = np.clip((1.0 / span) * (positions - frames[left]), 0.0, 1.0)  # `segment`'s rounding, to the bit
        before, after = positions <= frames[0], positions >= frames[-1]
        left = np.where(before, 0, np.where(after, len(frames) - 1, left))
        right = np.where(before, 0, np.where(after, len(frames) - 1, right))
        t = np.where(before | after, 0.0, [ease(value, self.interpolation) for value in raw])
        return left, right, t

    def weights(self) -> torch.Tensor:
        """[frame_count, keyframes] float weights: how much each keyframe's prompt counts at each frame (rows sum to 1)."""
        return torch.from_numpy(self._weights_by(list(range(len(self.keyframes))), len(self.keyframes))).float()

    def _weights_by(self, column: list[int], columns: int) -> np.ndarray:
        """[frame_count, columns] float64 weights, keyframe k's weight added to column `column[k]`: the left keyframe
        weighs 1 - t, the right one what is left (FizzNodes' order of operations). Time and memory O(frames x columns)."""
        left, right, t = self.segments()
        index = np.asarray(column)
        rows = np.arange(self.frame_count)
        keep = 1.0 - t
        table = np.zeros((self.frame_count, columns))
        np.add.at(table, (rows, index[left]), keep)
        np.add.at(table, (rows, index[right]), 1.0 - keep)
        return table

    def prompt_weights(self, negative: bool = False) -> tuple[list[str], np.ndarray]:
        """(each distinct prompt, or negative prompt, once; [frame_count, prompts] float64 weights): how much each
        text counts at each frame, keyframes that share a text summed."""
        texts = self.negatives if negative else self.prompts
        position: dict[str, int] = {}
        column = [position.setdefault(text, len(position)) for text in texts]
        return list(position), self._weights_by(column, len(position))

    @property
    def prompts(self) -> list[str]:
        """The keyframes' prompts, in keyframe order."""
        return [keyframe.prompt for keyframe in self.keyframes]

    @property
    def negatives(self) -> list[str]:
        """The keyframes' negative prompts, in keyframe order."""
        return [keyframe.negative for keyframe in self.keyframes]

    @property
    def distinct_prompts(self) -> list[str]:
        """Each different prompt once, in order of first appearance."""
        return list(dict.fromkeys(self.prompts))

    def switches(self) -> list[tuple[str, str, float]]:
        """(from prompt, to prompt, frame) where the dominant prompt changes: the midpoint of each blend between
        keyframes with different prompts (the later keyframe itself for `step`); keyframes that repeat the previous
        prompt (holds) are no switch."""
        found = []
        for left, right in zip(self.keyframes, self.keyframes[1:]):
            if left.prompt != right.prompt:
                frame = right.frame if self.interpolation == "step" else (left.frame + right.frame) / 2
                found.append((left.prompt, right.prompt, float(frame)))
        return found


def ease(t: float, interpolation: str) -> float:
    """The mixing fraction for a raw position `t` in [0, 1) between two keyframes."""
    if interpolation == "step":
        return 0.0
    if interpolation == "eased":
        return t * t * (3.0 - 2.0 * t)
    return t


# ------------------------------------------------------------------------------------------------------------ parsing


def parse_schedule(
    text: str,
    frame_count: int,
    fps: float | None = None,
    default_negative: str = "",
    interpolation: str = "linear",
    field: str = "schedule",
) -> PromptSchedule:
    """Parse `text` (line form or FizzNodes JSON form) into a schedule of `frame_count` frames.

    `fps` converts keyframes given in seconds. Raises ScheduleError (a ValueError) listing every error with its
    line and column; ValueError for a bad `frame_count`, `fps` or `interpolation`.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"'interpolation' is {interpolation!r}; choose one of {', '.join(INTERPOLATIONS)}.")
    check_frame_count(frame_count)
    if fps is not None and not check_finite(fps, "fps") > 0:
        raise ValueError(f"'fps' is {fps}; it must be above 0.")
    text = check_text(text, field)
    check_prompt(default_negative, "negative")
    stripped = text.lstrip()
    parser = _parse_json_form if stripped.startswith(("{", '"')) else _parse_line_form
    issues: list[ScheduleIssue] = []
    raw = parser(text, issues)
    check_keyframe_count(len(raw), field)
    keyframes = _resolve(raw, int(frame_count), fps, default_negative.strip(), issues)
    if not keyframes and not issues:
        issues.append(ScheduleIssue(1, 1, "the schedule has no keyframes; add at least one line like `0: a forest`"))
    if issues:
        raise ScheduleError(issues, field)
    return PromptSchedule(tuple(sorted(keyframes, key=lambda k: k.frame)), int(frame_count), interpolation, fps)


def check_text(text: object, field: str) -> str:
    """`text` when it is a string of at most MAX_TEXT_CHARS characters; ValueError naming `field` else."""
    if not isinstance(text, str):
        raise ValueError(f"'{field}' must be text; got {type(text).__name__}.")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"'{field}' is {len(text)} characters long; give at most {MAX_TEXT_CHARS}.")
    return text


def check_frame_count(frame_count: int) -> int:
    """`frame_count` when it is 1..MAX_FRAMES; ValueError else."""
    if int(frame_count) < 1:
        raise ValueError(f"'frame_count' is {frame_count}; a clip needs at least 1 frame (seconds x fps >= 1).")
    if int(frame_count) > MAX_FRAMES:
        raise ValueError(f"the clip has {frame_count} frames (seconds x fps); at most {MAX_FRAMES} "
                         "(600 s at 60 fps). Shorten it or lower fps.")
    return int(frame_count)


def check_keyframe_count(count: int, field: str) -> None:
    """ValueError naming `field` when a text holds more than MAX_KEYFRAMES keyframes."""
    if count > MAX_KEYFRAMES:
        raise ValueError(f"'{field}' has {count} keyframes; give at most {MAX_KEYFRAMES} (one every few frames is "
                         "plenty: prompts blend between keyframes).")


@dataclass
class _RawKeyframe:
    """A keyframe as written: frame text and body text with the positions they start at."""

    frame_text: str
    frame_line: int
    frame_column: int
    body: str
    body_line: int
    body_column: int


def _parse_line_form(text: str, issues: list[ScheduleIssue]) -> list[_RawKeyframe]:
    """`frame: prompt [--neg negative]` lines."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.strip()
        if not content or content.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        colon = line.find(":")
        if colon < 0:
            issues.append(
                ScheduleIssue(number, indent + 1, f"no ':' in {content[:40]!r}; write `frame: prompt`, e.g. `0: {content[:20]}`")
            )
            continue
        frame_text = line[:colon].strip()
        body = line[colon + 1 :]
        body_start = colon + 2 + (len(body) - len(body.lstrip()))
        if frame_text.startswith('"'):
            issues.append(
                ScheduleIssue(number, indent + 1, "a quoted frame in the line form; use the JSON form for every line "
                              'or none (`"0": "a forest"` vs `0: a forest`)')
            )
            continue
        found.append(_RawKeyframe(frame_text, number, indent + 1, body.strip(), number, body_start))
    return found


def _parse_json_form(text: str, issues: list[ScheduleIssue]) -> list[_RawKeyframe]:
    """FizzNodes style `"frame": "prompt"` pairs separated by commas, optionally inside braces."""
    scanner = _Scanner(text)
    found: list[_RawKeyframe] = []
    scanner.skip_space()
    braced = scanner.peek() == "{"
    brace_line = scanner.position()[0]
    if braced:
        scanner.advance()
    while True:
        scanner.skip_space()
        if scanner.at_end():
            if braced:
                issues.append(scanner.issue(f"the '{{' opened on line {brace_line} is never closed; add '}}' at the end"))
            break
        if braced and scanner.peek() == "}":
            scanner.advance()
            scanner.skip_space()
            if not scanner.at_end():
                issues.append(scanner.issue(f"unexpected text after the closing '}}': {scanner.rest()[:30]!r}"))
            break
        entry = _json_entry(scanner, issues)
        if entry is None:
            break  # the scanner cannot resynchronise after a broken string; the issue is recorded
        found.append(entry)
        scanner.skip_space()
        if scanner.at_end() or (braced and scanner.peek() == "}"):
            continue
        if scanner.peek() == ",":
            scanner.advance()
            continue
        issues.append(scanner.issue(f"expected ',' between entries, found {scanner.peek()!r}"))
        if scanner.peek() != '"':
            break
    return found


def _json_entry(scanner: "_Scanner", issues: list[ScheduleIssue]) -> _RawKeyframe | None:
    """One `"frame": "prompt"` pair, or None when the text cannot be read further."""
    if scanner.peek() != '"':
        issues.append(scanner.issue(f"expected a quoted frame like \"12\", found {scanner.peek()!r}"))
        return None
    key_line, key_column = scanner.position()
    key = scanner.string(issues)
    if key is None:
        return None
    scanner.skip_space()
    if scanner.peek() != ":":
        issues.append(scanner.issue(f"expected ':' after the frame \"{key}\", found {scanner.peek()!r}"))
        if scanner.peek() != '"':
            return None
    else:
        scanner.advance()
        scanner.skip_space()
    value_line, value_column = scanner.position()
    if scanner.peek() != '"':
        issues.append(scanner.issue(f"the prompt for frame \"{key}\" must be a quoted string, found {scanner.peek()!r}"))
        return None
    value = scanner.string(issues)
    if value is None:
        return None
    return _RawKeyframe(key.strip(), key_line, key_column, value.strip(), value_line, value_column + 1)


class _Scanner:
    """A cursor over the JSON-form text that knows its line and column."""

    _ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t"}

    def __init__(self, text: str):
        self.text, self.index = text, 0

    def at_end(self) -> bool:
        return self.index >= len(self.text)

    def peek(self) -> str:
        return self.text[self.index] if not self.at_end() else "end of text"

    def rest(self) -> str:
        return self.text[self.index :]

    def advance(self) -> None:
        self.index += 1

    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.index].isspace():
            self.index += 1

    def position(self, index: int | None = None) -> tuple[int, int]:
        """1-based line and column of `index` (default: the cursor)."""
        index = self.index if index is None else index
        line = self.text.count("\n", 0, index) + 1
        return line, index - (self.text.rfind("\n", 0, index) + 1) + 1

    def issue(self, message: str, index: int | None = None) -> ScheduleIssue:
        line, column = self.position(index)
        return ScheduleIssue(line, column, message)

    def string(self, issues: list[ScheduleIssue]) -> str | None:
        """Read a double-quoted string at the cursor; None (and an issue) when it never closes."""
        start = self.index
        self.advance()
        chars = []
        while not self.at_end():
            char = self.text[self.index]
            if char == '"':
                self.advance()
                return "".join(chars)
            if char == "\n":
                break
            if char == "\\":
                escaped = self.text[self.index + 1 : self.index + 2]
                if escaped not in self._ESCAPES:
                    issues.append(self.issue(f"unknown escape '\\{escaped}'; write \\\" or \\\\ only"))
                    chars.append(escaped)
                else:
                    chars.append(self._ESCAPES[escaped])
                self.index += 2
                continue
            chars.append(char)
            self.advance()
        issues.append(self.issue("this quoted string is never closed; add the closing '\"' on the same line", start))
        return None


def _resolve(
    raw: list[_RawKeyframe], frame_count: int, fps: float | None, default_negative: str, issues: list[ScheduleIssue]
) -> list[Keyframe]:
    """Turn written keyframes into frames and prompts, checking each; duplicates are reported at the later one."""
    keyframes: list[Keyframe] = []
    seen: dict[int, int] = {}
    for item in raw:
        frame = _frame_number(item, frame_count, fps, issues)
        if frame in seen:
            issues.append(
                ScheduleIssue(item.frame_line, item.frame_column, f"frame {frame} already has a keyframe "
                              f"(line {seen[frame]}); remove one or move it to another frame")
            )
            continue
        if frame is not None:
            seen[frame] = item.frame_line
        split = _split_body(item, issues)
        if frame is None or split is None:
            continue
        prompt, negative = split
        too_long = [(part, len(text)) for part, text in (("prompt", prompt), ("negative", negative))
                    if text is not None and len(text) > MAX_PROMPT_CHARS]
        for part, length in too_long:
            issues.append(ScheduleIssue(item.frame_line, item.frame_column, f"the {part} is {length} characters "
                                        f"long; a prompt takes at most {MAX_PROMPT_CHARS} characters: shorten it"))
        if too_long:
            continue
        keyframes.append(Keyframe(frame, prompt, negative if negative is not None else default_negative, item.frame_line))
    return keyframes


def _frame_number(item: _RawKeyframe, frame_count: int, fps: float | None, issues: list[ScheduleIssue]) -> int | None:
    """The frame index written in `item`, or None with an issue."""
    text, where = item.frame_text, (item.frame_line, item.frame_column)
    if not text:
        issues.append(ScheduleIssue(*where, "missing frame before ':'; write e.g. `12: prompt` or `2.5s: prompt`"))
        return None
    seconds = _SECONDS_RE.match(text)
    if seconds:
        if fps is None:
            issues.append(ScheduleIssue(*where, f"'{text}' is in seconds but no fps was given; give fps or a frame number"))
            return None
        frame = round(float(seconds.group(1)) * fps)
    elif _FRAME_RE.match(text):
        frame = int(text)
    elif text.startswith("-"):
        issues.append(ScheduleIssue(*where, f"frame '{text}' is negative; frames start at 0"))
        return None
    else:
        issues.append(
            ScheduleIssue(*where, f"frame '{text}' is not a whole frame number (12) or seconds (2.5s)")
        )
        return None
    if frame >= frame_count:
        issues.append(
            ScheduleIssue(*where, f"frame '{text}' is {frame}, past the clip's last frame {frame_count - 1} "
                          f"({frame_count} frames); lower it or lengthen the clip")
        )
        return None
    return frame


def _split_body(item: _RawKeyframe, issues: list[ScheduleIssue]) -> tuple[str, str | None] | None:
    """(prompt, negative or None) from a keyframe body, or None with an issue."""
    body, line, column = item.body, item.body_line, item.body_column
    for match in _OPTION_RE.finditer(body):
        if match.group(1) != NEGATIVE_FLAG:
            issues.append(ScheduleIssue(line, column + match.start(1), f"unknown option '{match.group(1)}'; "
                                        f"the only option is '{NEGATIVE_FLAG} negative prompt'"))
            return None
    parts = re.split(r"(?:^|\s)--neg(?=\s|$)", body)
    prompt = parts[0].strip()
    if not prompt:
        issues.append(ScheduleIssue(line, column, "empty prompt; write the prompt after ':'"))
        return None
    if len(parts) > 2:
        second = body.find(NEGATIVE_FLAG, body.find(NEGATIVE_FLAG) + 1)
        issues.append(ScheduleIssue(line, column + second, f"'{NEGATIVE_FLAG}' given twice; give one negative prompt"))
        return None
    if len(parts) == 2:
        negative = parts[1].strip()
        if not negative:
            issues.append(ScheduleIssue(line, column + body.find(NEGATIVE_FLAG), f"'{NEGATIVE_FLAG}' is not followed "
                                        "by a negative prompt; write one or drop the flag"))
            return None
        return prompt, negative
    return prompt, None


def parse_values(
    text: str, frame_count: int, fps: float | None, low: float, high: float, field: str
) -> list[float]:
    """Per-frame numbers from `frame: value` lines (linear between keyframes, held at the ends), or one number for all.

    Raises ScheduleError listing every bad line, or ValueError for a single number outside [`low`, `high`].
    """
    stripped = check_text(text, field).strip()
    check_frame_count(frame_count)
    try:
        constant = float(stripped)
    except ValueError:
        constant = None
    if constant is not None:
        if not low <= constant <= high:  # NaN fails this too
            raise ValueError(f"'{field}' is {constant:g}; give a number from {low:g} to {high:g}.")
        return [constant] * frame_count
    issues: list[ScheduleIssue] = []
    points: dict[int, float] = {}
    raw = _parse_line_form(text, issues)
    check_keyframe_count(len(raw), field)
    for item in raw:
        frame = _frame_number(item, frame_count, fps, issues)
        try:
            value = float(item.body)
        except ValueError:
            issues.append(ScheduleIssue(item.body_line, item.body_column, f"{item.body!r} is not a number"))
            continue
        if not low <= value <= high:
            issues.append(ScheduleIssue(item.body_line, item.body_column, f"{value:g} is outside {low:g} to {high:g}"))
        elif frame in points:
            issues.append(ScheduleIssue(item.frame_line, item.frame_column, f"frame {frame} is given twice"))
        elif frame is not None:
            points[frame] = value
    if not points and not issues:
        issues.append(ScheduleIssue(1, 1, "no values; write one number, or lines like `0: 0.6`"))
    if issues:
        raise ScheduleError(issues, field, VALUES_HINT)
    frames = sorted(points)
    return np.interp(np.arange(frame_count), frames, [points[f] for f in frames]).tolist()


# ---------------------------------------------------------------------------------------------------------- embeddings


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation along the last dim of `a` and `b` (each token separately); near-parallel -> linear."""
    a64, b64 = a.double(), b.double()
    cos = (torch.nn.functional.normalize(a64, dim=-1) * torch.nn.functional.normalize(b64, dim=-1)).sum(-1, keepdim=True)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    safe = sin.abs() > eps
    sin = torch.where(safe, sin, torch.ones_like(sin))
    left = torch.where(safe, torch.sin((1.0 - t) * omega) / sin, torch.full_like(sin, 1.0 - t))
    right = torch.where(safe, torch.sin(t * omega) / sin, torch.full_like(sin, t))
    return (left * a64 + right * b64).to(a.dtype)


def blend(embeddings: torch.Tensor, schedule: PromptSchedule, frame: int) -> torch.Tensor:
    """The encoding at `frame` from per-keyframe `embeddings` [keyframes, ...] following `schedule`; the one blender
    (every other function here calls it). At a keyframe, and while a prompt holds, the keyframe's row as it is."""
    if embeddings.shape[0] != len(schedule.keyframes):
        raise ValueError(
            f"'embeddings' has {embeddings.shape[0]} rows for {len(schedule.keyframes)} keyframes; encode every keyframe."
        )
    left, right, t = schedule.segment(frame)
    if left == right or t == 0.0 or torch.equal(embeddings[left], embeddings[right]):
        return embeddings[left]  # a keyframe, or a prompt that holds: exact, where a mix could round the last bit
    if schedule.interpolation == "slerp":
        return slerp(embeddings[left], embeddings[right], t)
    keep = 1.0 - t
    return embeddings[left] * keep + embeddings[right] * (1.0 - keep)


def blend_frames(embeddings: torch.Tensor, schedule: PromptSchedule) -> torch.Tensor:
    """[frame_count, ...]: `blend` at every frame of the clip, from per-keyframe `embeddings` [keyframes, ...]."""
    frames = torch.empty((schedule.frame_count, *embeddings.shape[1:]), dtype=embeddings.dtype, device=embeddings.device)
    for frame in range(schedule.frame_count):
        frames[frame] = blend(embeddings, schedule, frame)
    return frames


def match_token_counts(conds: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack text encodings [1, tokens, dim] of different lengths (prompts past 77 tokens) into [n, tokens, dim]:
    each is repeated along the tokens up to their least common multiple, as ComfyUI batches such conds (attention
    over a sequence repeated k times equals attention over the sequence)."""
    length = math.lcm(*(cond.shape[1] for cond in conds))
    return torch.cat([cond.repeat(1, length // cond.shape[1], 1) for cond in conds])


def blend_conditioning(
    keyframe_conds: Sequence[tuple[torch.Tensor, torch.Tensor | None]], schedule: PromptSchedule
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-frame (cond [frame_count, tokens, dim], pooled [frame_count, dim] or None) from one (cond [1, tokens, dim],
    pooled [1, dim] or None) per keyframe, in keyframe order; cond and pooled blend alike (`blend`)."""
    if len(keyframe_conds) != len(schedule.keyframes):
        raise ValueError(f"'keyframe_conds' has {len(keyframe_conds)} encodings for {len(schedule.keyframes)} "
                         "keyframes; give one (cond, pooled) per keyframe, in keyframe order.")
    conds = match_token_counts([cond for cond, _ in keyframe_conds])
    pooled = [pooled for _, pooled in keyframe_conds]
    if any(item is None for item in pooled):
        return blend_frames(conds, schedule), None
    return blend_frames(conds, schedule), blend_frames(torch.cat(pooled), schedule)


def encode_prompts(clip, prompts: Sequence[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """{prompt: (cond [1, tokens, dim], pooled [1, dim])} for each distinct prompt, encoded once by a ComfyUI CLIP
    (`clip.tokenize` + `clip.encode_from_tokens(return_pooled=True)`, as core CLIPTextEncode does)."""
    distinct = list(dict.fromkeys(prompts))
    encoded = {}
    with progress(len(distinct), "encoding the schedule's prompts") as bar:
        for prompt in distinct:
            encoded[prompt] = clip.encode_from_tokens(clip.tokenize(prompt), return_pooled=True)
            bar.update()
    return encoded


def schedule_conditioning(clip, schedule: PromptSchedule) -> tuple[list, list]:
    """(positive, negative) ComfyUI CONDITIONING for every frame of `schedule`: each one entry `[cond, {"pooled_output":
    pooled}]` with a row per frame (frame i is `cond[i:i + 1]`), blended from the keyframes' encodings by `clip`."""
    if schedule.frame_count > MAX_CONDITIONED_FRAMES:
        raise ValueError(f"the clip has {schedule.frame_count} frames (seconds x fps); per-frame conditioning takes at "
                         f"most {MAX_CONDITIONED_FRAMES} (100 s at 24 fps). Split it into scenes, or lower seconds or fps.")
    encoded = encode_prompts(clip, schedule.prompts + schedule.negatives)
    conditioning = []
    for texts in (schedule.prompts, schedule.negatives):
        cond, pooled = blend_conditioning([encoded[text] for text in texts], schedule)
        conditioning.append([[cond, {} if pooled is None else {"pooled_output": pooled}]])
    return conditioning[0], conditioning[1]


# ------------------------------------------------------------------------------------------------------------ timeline


def timeline_image(schedule: PromptSchedule, width: float = 9.0) -> Image.Image:
    """Stacked bars of each prompt's weight at every frame (keyframes holding the same prompt share one colour),
    keyframes marked."""
    from .images import figure_to_pil, new_figure

    fps = schedule.fps
    prompts, weights = schedule.prompt_weights()
    shown = sorted(np.argsort(-weights.sum(0), kind="stable")[:DRAWN_PROMPTS])
    labels = [_label(schedule, prompts[index]) for index in shown]
    bands = [weights[:, index] for index in shown]
    if len(prompts) > len(shown):
        labels.append(f"{len(prompts) - len(shown)} other prompts")
        bands.append(1.0 - np.sum(bands, axis=0))
    edges = np.repeat(np.arange(schedule.frame_count + 1) - 0.5, 2)[1:-1]  # each frame a flat step, as bars were
    figure = new_figure(width, 2.0 + 0.3 * len(labels))
    axes = figure.add_subplot(1, 1, 1)
    bottom = np.zeros(schedule.frame_count)
    for band, label in zip(bands, labels):  # one filled band per prompt: O(frames) points, whatever the keyframes
        top = bottom + band
        axes.fill_between(edges, np.repeat(bottom, 2), np.repeat(top, 2), label=label, alpha=0.85, linewidth=0)
        bottom = top
    axes.vlines(list(schedule._frames), 0, 1, color="black", linewidth=0.8, linestyle=":")
    axes.set_xlim(-0.5, schedule.frame_count - 0.5)
    axes.set_ylim(0, 1)
    axes.set_ylabel("prompt weight")
    seconds = f" ({schedule.frame_count / fps:.2f} s at {fps:g} fps)" if fps else ""
    axes.set_xlabel(f"frame{seconds}")
    axes.set_title(f"Prompt schedule: {len(schedule.keyframes)} keyframes, {schedule.interpolation}", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(3, len(labels)), fontsize=8, frameon=False)
    figure.tight_layout()
    return figure_to_pil(figure)


def _label(schedule: PromptSchedule, prompt: str, limit: int = 6) -> str:
    """A legend entry: the keyframes that hold `prompt` (the first few) and the prompt, shortened."""
    frames = [str(keyframe.frame) for keyframe in schedule.keyframes if keyframe.prompt == prompt]
    listed = ", ".join(frames[:limit]) + (", ..." if len(frames) > limit else "")
    return f"{listed}: {shorten(prompt)}"


def frame_count_for(seconds: float, fps: float) -> int:
    """Frames in a clip of `seconds` at `fps`: round(seconds x fps), at least 1; ValueError names a bad field."""
    if not check_finite(seconds, "seconds") > 0:
        raise ValueError(f"'seconds' is {seconds}; give a clip length above 0 (3 to 5 s is typical).")
    if not check_finite(fps, "fps") > 0:
        raise ValueError(f"'fps' is {fps}; give frames per second above 0 (8 to 12 is typical).")
    count = round(seconds * fps)
    if count < 1:
        raise ValueError(f"'seconds' x 'fps' = {seconds * fps:g} rounds to 0 frames; lengthen the clip or raise fps.")
    return check_frame_count(count)


__all__ = [
    "INTERPOLATIONS",
    "Keyframe",
    "PromptSchedule",
    "ScheduleError",
    "ScheduleIssue",
    "blend",
    "blend_conditioning",
    "blend_frames",
    "ease",
    "encode_prompts",
    "frame_count_for",
    "match_token_counts",
    "parse_schedule",
    "parse_values",
    "schedule_conditioning",
    "slerp",
    "timeline_image",
]
