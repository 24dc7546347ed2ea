"""What the report reads from one pass's per-frame figures: the motion guard, cuts, colour drift, seams and
prompt-switch latency. Plain numpy on `Measures`; definitions in definitions.py."""

from __future__ import annotations

import numpy as np

from . import pixels
from .measure import Measures

STATIC_FLOW = 6.0  # VBench's dynamic-degree threshold in pixels at a short side of 256, scaled with the side


def finite_mean(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 6) if finite.size else None


def finite_median(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def motion_guard(measures: Measures, frames: slice = slice(None)) -> dict:
    """Mean top-5% DIS flow and the static flag over `frames` (VBench's dynamic-degree rule on OpenCV flow)."""
    flows = measures.scalars["flow_top"][frames]
    sampled = flows[np.isfinite(flows)]
    short_side = min(measures.size) * pixels.flow_scale(measures.size)
    threshold = STATIC_FLOW * short_side / 256.0
    needed = max(1, round(4 * (sampled.size + 1) / 16))
    moving = int((sampled > threshold).sum())
    return {"mean_top5_flow": finite_mean(sampled), "static": bool(moving < needed), "moving_pairs": moving,
            "pairs": int(sampled.size), "pairs_needed": needed, "threshold_px": round(threshold, 4),
            "sampled_every": measures.guard_stride}


def scene_spans(measures: Measures) -> list[tuple[int, int]]:
    """(start, stop) of each scene."""
    starts = measures.scene_starts
    return [(start, stop) for start, stop in zip(starts, starts[1:] + [measures.count])]


def colour_drift(measures: Measures) -> dict[str, np.ndarray]:
    """Per frame, ΔE*ab of its mean colour to the first frame's ("to_first") and to its scene's first frame's."""
    to_anchor = np.empty(measures.count)
    for start, stop in scene_spans(measures):
        to_anchor[start:stop] = pixels.delta_e(measures.lab[start:stop], measures.lab[start])
    return {"to_first": pixels.delta_e(measures.lab, measures.lab[0]), "to_scene_anchor": to_anchor}


def drift_slope(values: np.ndarray, fps: float) -> float | None:
    """Least-squares slope of a per-frame curve, per second."""
    if len(values) < 2:
        return None
    seconds = np.arange(len(values)) / fps
    return round(float(np.polyfit(seconds, values, 1)[0]), 6)


def cuts(measures: Measures) -> list[dict]:
    """The detected hard cuts: frame, histogram distance and ΔE*ab across."""
    if not measures.cuts_detected:
        return []
    return [{"frame": k, "seconds": round(k / measures.fps, 3),
             "histogram_distance": round(float(measures.scalars["histogram_distance"][k]), 6),
             "delta_e": round(float(pixels.delta_e(measures.lab[k - 1], measures.lab[k])), 4)}
            for k in measures.scene_starts[1:]]


def similarity_kind(measures: Measures) -> str:
    """The vector kind seams and switches are read on: the subject features when installed, else the pixel one."""
    return "subject" if "subject" in measures.consecutive else "pixel"


def seam(measures: Measures, frame: int, leaving: tuple[int, int]) -> dict:
    """The figures of the seam between frames `frame`-1 and `frame`, against the leaving segment (start, stop)."""
    kind = similarity_kind(measures)
    inside = slice(leaving[0] + 1, leaving[1])
    across = float(measures.consecutive[kind][frame])
    usual = finite_median(measures.consecutive[kind][inside])
    warp = float(measures.scalars["warp_error"][frame])
    warp_median = finite_median(measures.scalars["warp_error"][inside])
    name = "subject_similarity" if kind == "subject" else "pixel_thumbnail_cosine"
    return {
        "frame": frame, "seconds": round(frame / measures.fps, 3),
        f"{name}_across": round(across, 6),
        f"{name}_drop": None if usual is None else round(usual - across, 6),
        "warp_error": round(warp, 6),
        "warp_error_spike": None if not warp_median else round(warp / warp_median, 3),
        "delta_e": round(float(pixels.delta_e(measures.lab[frame - 1], measures.lab[frame])), 4),
    }


def prompt_switches(scheduled: list[int]) -> list[tuple[int, int, int]]:
    """(frame, old prompt index, new prompt index) wherever the scheduled prompt changes."""
    return [(k, scheduled[k - 1], scheduled[k]) for k in range(1, len(scheduled)) if scheduled[k] != scheduled[k - 1]]


def switch_latency(measures: Measures, scheduled: list[int], prompts: list[str]) -> list[dict]:
    """Per scheduled switch: frames until the adherence to the new prompt exceeds the old one's (None: not before
    the next switch or the end), and the similarity across the switch."""
    if measures.adherence is None:
        return []
    kind = similarity_kind(measures)
    switches = prompt_switches(scheduled[:measures.count])
    found = []
    for index, (frame, old, new) in enumerate(switches):
        stop = switches[index + 1][0] if index + 1 < len(switches) else measures.count
        lead = measures.adherence[frame:stop, new] - measures.adherence[frame:stop, old]
        after = np.flatnonzero(lead > 0)
        latency = int(after[0]) if after.size else None
        found.append({
            "frame": frame, "from": prompts[old], "to": prompts[new], "latency_frames": latency,
            "latency_seconds": None if latency is None else round(latency / measures.fps, 3),
            ("subject_similarity_across" if kind == "subject" else "pixel_thumbnail_cosine_across"):
                round(float(measures.consecutive[kind][frame]), 6),
        })
    return found
