"""LAB colour matching, shared by the animator (each frame to its input image) and the film (each chunk to its
scene's anchor frame): a frame's per-channel LAB mean and standard deviation are moved to a reference's."""

from __future__ import annotations

import numpy as np


def lab_stats(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel LAB mean and standard deviation of a float RGB frame."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2LAB)
    mean, std = cv2.meanStdDev(lab)
    return mean.ravel(), std.ravel()


def color_match(frame: np.ndarray, reference_stats: tuple[np.ndarray, np.ndarray], strength: float = 1.0) -> np.ndarray:
    """Move `frame`'s (float RGB 0..1) LAB mean and std per channel to `reference_stats` (one affine map per channel).

    `strength` in 0..1 goes linearly from the identity map (0) to the full match (1)."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2LAB)
    mean, std = (values.ravel() for values in cv2.meanStdDev(lab))
    target_mean, target_std = reference_stats
    scale = 1.0 + strength * (target_std / np.maximum(std, 1e-4) - 1.0)
    shift = strength * (target_mean - mean * target_std / np.maximum(std, 1e-4))
    affine = np.hstack([np.diag(scale), shift[:, None]]).astype(np.float32)
    rgb = cv2.cvtColor(cv2.transform(lab, affine), cv2.COLOR_LAB2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)
