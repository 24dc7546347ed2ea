"""Benchmark of the from-scratch DDPM on scikit-learn's digits: training time, judged accuracy, diversity, speed.

1. Train the default recipe (`TrainConfig()`: a fixed number of steps) on the digits' training split; wall time.
2. A judge: an RBF SVC trained on the real training digits, scored on the real held-out digits.
3. 100 samples per class with DDIM-50 at guidance 0, 1, 3 and 5; the share the judge puts in the conditioned class.
4. Diversity: mean distance from each g=1 sample to its nearest training digit, against the same figure for the
   real held-out digits (pixels on the 0..16 scale); the ratio must stay >= 0.95 (no memorising).
5. Throughput: the g=1 and g=3 runs above are 1,000 digits each with DDIM-50; digits per second.
Timings are repeated (training REPEATS times, each sampling run REPEATS times): a figure is the median with its
spread beside it; the quality figures come from the first trained model.

Run: `.venv/bin/python bench/bench_ddpm.py [--quick]` (prints a table, returns the figures from `main()`).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LONGFORM_PROGRESS", "0")

from _pack import load_pack  # noqa: E402
from _timing import MIN_REPEATS, format_spread, spread  # noqa: E402
from bench_figures import DDPM_BASELINE  # noqa: E402

load_pack()
from longform_pack.core.ddpm import TrainConfig, sample, train  # noqa: E402
from longform_pack.core.ddpm.data import digits_arrays  # noqa: E402

GUIDANCES = (0.0, 1.0, 3.0, 5.0)
REPEATS = MIN_REPEATS


def nearest_distance(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean over `points` of the Euclidean distance to the nearest row of `reference` (both [N, 64], 0..16)."""
    squared = (points**2).sum(1)[:, None] + (reference**2).sum(1)[None] - 2 * points @ reference.T
    return float(np.sqrt(np.clip(squared.min(axis=1), 0, None)).mean())


def main(config: TrainConfig | None = None, device: str = "cpu", quick: bool = False) -> dict:
    """Train, judge and time; print a table and return the figures. `quick`: 50 training steps and 10 samples per
    class, to check the script end to end (its figures are not for results.json)."""
    from sklearn.svm import SVC

    config = config or (TrainConfig(steps=50) if quick else TrainConfig())
    per_class = 10 if quick else 100
    train_x, train_y = digits_arrays("train")
    test_x, test_y = digits_arrays("test")
    train_x, test_x = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
    judge = SVC(gamma=0.001, C=10).fit(train_x, train_y)
    judge_accuracy = float((judge.predict(test_x) == test_y).mean())

    results = [train(config, device=device) for _ in range(REPEATS)]
    result = results[0]
    train_seconds = spread([run.seconds for run in results], 1)
    figures: dict = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "train_steps": config.steps,
        "train_seconds": train_seconds["median"],
        "train_seconds_spread": train_seconds,
        "final_loss": round(float(np.mean(result.losses[-100:])), 4),
        "judge_held_out_accuracy": round(judge_accuracy, 4),
    }
    labels = [str(digit) for digit in range(10) for _ in range(per_class)]
    wanted = np.repeat(np.arange(10), per_class)
    for guidance in GUIDANCES:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            samples = sample(result.model, labels, guidance=guidance, sampler="ddim", steps=50, seed=1, device=device)
            times.append((time.perf_counter() - started) * 1000 / len(labels))  # seconds per 1,000 digits
        seconds = spread(times, 2)
        pixels = samples.images.reshape(len(labels), -1).numpy() * 16
        figures[f"accuracy_g{guidance:g}"] = round(float((judge.predict(pixels) == wanted).mean()), 4)
        figures[f"ddim50_seconds_1000_g{guidance:g}"] = seconds["median"]
        figures[f"ddim50_seconds_1000_g{guidance:g}_spread"] = seconds
        if guidance == 1:
            figures["nearest_distance_g1"] = round(nearest_distance(pixels, train_x), 2)
    figures["real_nearest_distance"] = round(nearest_distance(test_x, train_x), 2)
    figures["diversity_ratio"] = round(figures["nearest_distance_g1"] / figures["real_nearest_distance"], 3)
    figures["digits_per_second_g1"] = round(1000 / figures["ddim50_seconds_1000_g1"], 1)
    figures["digits_per_second_g3"] = round(1000 / figures["ddim50_seconds_1000_g3"], 1)

    print(f"DDPM on digits ({figures['machine']})")
    print(f"train: {config.steps} steps in {format_spread(train_seconds, 1)} s, final loss {figures['final_loss']}")
    print(f"judge (SVC) held-out accuracy on real digits: {judge_accuracy:.3f}")
    print("guidance | judged accuracy | DDIM-50 s / 1000: median (min-max)")
    for guidance in GUIDANCES:
        print(f"{guidance:8g} | {figures[f'accuracy_g{guidance:g}']:15.3f} | "
              f"{format_spread(figures[f'ddim50_seconds_1000_g{guidance:g}_spread'], 2)}")
    print(f"nearest training digit, g=1 samples: {figures['nearest_distance_g1']}  real held-out: "
          f"{figures['real_nearest_distance']}  ratio {figures['diversity_ratio']} (bar >= 0.95)")
    print(f"baseline: {DDPM_BASELINE}")
    return figures


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
