"""Shared by the benchmarks: a figure's spread over repeats, and whether a difference from a bar is noise.

A figure measured once says nothing about how much it moves between runs; every timing figure is therefore reported
as its median and its min-max over at least MIN_REPEATS repeats, and a comparison against a bar (or against 1.0, the
same speed) is called noise when the bar lies inside that min-max.
"""

from __future__ import annotations

import statistics
from typing import Sequence

MIN_REPEATS = 5


def spread(values: Sequence[float], digits: int = 4) -> dict:
    """The repeats of one figure: {median, min, max, n, values}, rounded to `digits` decimals."""
    if not values:
        raise ValueError("spread() needs at least one measured value, got none")
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values), "values": [round(v, digits) for v in values]}


def ratio_spread(numerators: Sequence[float], denominators: Sequence[float], digits: int = 4) -> dict:
    """Spread of per-repeat ratios: repeat i of one path over repeat i of the other (interleaved runs share their
    moment's load, so each pair's ratio cancels what the neighbours did then)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"ratio_spread() needs paired repeats, got {len(numerators)} and {len(denominators)} values")
    return spread([a / b for a, b in zip(numerators, denominators)], digits)


def compare(figure: dict, bar: float) -> str:
    """Where a spread lies against `bar`: 'noise' when the bar is inside [min, max], else 'below' or 'above';
    'too few repeats' under MIN_REPEATS, where a min-max does not yet show the noise."""
    if figure["n"] < MIN_REPEATS:
        return "too few repeats"
    if figure["min"] <= bar <= figure["max"]:
        return "noise"
    return "below" if figure["max"] < bar else "above"


def against_bar(figure: dict, bar: float) -> str:
    """A ratio against an upper bar (e.g. ≤ 1.05): 'meets ≤ 1.05', 'misses ≤ 1.05', 'noise against ≤ 1.05' (the
    bar inside the spread), or 'too few repeats'."""
    verdict = compare(figure, bar)
    return {"below": f"meets ≤ {bar:g}", "above": f"misses ≤ {bar:g}", "noise": f"noise against ≤ {bar:g}"}.get(
        verdict, verdict)


def against_same_speed(figure: dict) -> str:
    """A ratio of two times against 1.0: 'faster', 'slower', or 'noise' when 1.0 lies inside the spread."""
    verdict = compare(figure, 1.0)
    return {"below": "faster", "above": "slower"}.get(verdict, verdict)


def format_spread(figure: dict, digits: int = 3) -> str:
    """'1.011 (0.985-1.032, n=5)': the median, then the min-max."""
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f}, n={figure['n']})"


def path_rows(times: dict[str, list[float]], reference: str, unit: str) -> dict[str, dict]:
    """Per path, from interleaved repeats: the spread of its seconds per `unit`, and the spread of its per-repeat
    ratio to path `reference` with its verdict against the same speed."""
    rows = {}
    for name, values in times.items():
        ratio = ratio_spread(values, times[reference])
        verdict = "the reference" if name == reference else against_same_speed(ratio)
        rows[name] = {f"seconds_per_{unit}": spread(values), "ratio": ratio, "vs_reference": verdict}
    return rows
