"""Shared by the overhead benchmarks: best-of timings per path, as rows against a bare path."""

from __future__ import annotations

import statistics


def overhead_rows(times: dict[str, list[float]], bare: str, unit: str) -> dict[str, dict[str, float]]:
    """Per path: best and median seconds per `unit`, and the best's overhead over the best of path `bare`.

    The best of interleaved runs is the figure: on a shared CPU the slow runs measure the neighbours, not the code.
    """
    fastest_bare = min(times[bare])
    return {
        name: {
            f"seconds_per_{unit}": min(values),
            f"median_seconds_per_{unit}": statistics.median(values),
            "overhead_vs_bare": min(values) / fastest_bare - 1.0,
        }
        for name, values in times.items()
    }
