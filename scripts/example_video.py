"""Write example_inputs/longform_clip.mp4, the clip the shipped video_report workflow measures: a slow pan over the
pack's character picture that warms in colour, then a hard cut to the sketch (128x128, 8 fps, 4 s; about 12 KB).

    python scripts/example_video.py
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

from _pack import PACK_ROOT, load_pack

SIDE, FPS, PAN_FRAMES, STILL_FRAMES = 128, 8.0, 20, 12


def frames() -> list[np.ndarray]:
    """The pan (4 px a frame, red rising 2 levels a frame), then the sketch held still."""
    with Image.open(PACK_ROOT / "example_inputs" / "longform_character.png") as picture:
        character = np.asarray(picture.convert("RGB").resize((SIDE + 4 * PAN_FRAMES, SIDE)), dtype=np.int16)
    with Image.open(PACK_ROOT / "example_inputs" / "longform_sketch.png") as picture:
        sketch = np.asarray(picture.convert("RGB").resize((SIDE, SIDE)), dtype=np.uint8)
    pan = []
    for k in range(PAN_FRAMES):
        frame = character[:, 4 * k:4 * k + SIDE].copy()
        frame[..., 0] += 2 * k
        pan.append(np.clip(frame, 0, 255).astype(np.uint8))
    return pan + [sketch] * STILL_FRAMES


def main() -> int:
    load_pack()
    from longform_pack.core.video import write_video

    path = write_video(frames(), PACK_ROOT / "example_inputs" / "longform_clip.mp4", FPS)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
