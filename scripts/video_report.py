"""The consistency meter from the command line: a video file (and optionally the storyboard it was rendered from)
-> report.json and report.png (docs/meter.md defines every figure).

    python scripts/video_report.py clip.mp4 [--storyboard board.yaml] [--encoder clip-vit-base-patch32.safetensors]
        [--fps 16] [--out dir]

A storyboard's pictures resolve beside it. Models come from --models-dir (default: $LONGFORM_MODELS_DIR or ./models):
VBench's feature models (DINO ViT-B/16, CLIP ViT-B/32) where installed, the probe's CLIP (--encoder, encoders/) for prompt-switch latency.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from _pack import load_pack

logger = logging.getLogger("LongForm")


def main(argv: list[str] | None = None) -> dict:
    """Parse arguments, write report.json and report.png, return the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path, help="video file (mp4, webm, mov, mkv, avi, gif)")
    parser.add_argument("--storyboard", type=Path, default=None, help="the storyboard the video was rendered from")
    parser.add_argument("--encoder", default="", help="the probe's CLIP file in <models>/encoders (switch latency)")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default: the video's)")
    parser.add_argument("--models-dir", type=Path, default=None, help="models folder (default: $LONGFORM_MODELS_DIR)")
    parser.add_argument("--out", type=Path, default=Path("video_report"), help="output folder")
    args = parser.parse_args(argv)

    load_pack()
    from longform_pack.core import host
    from longform_pack.core.encoders import load_encoder
    from longform_pack.core.film.storyboard import load_storyboard
    from longform_pack.core.meter.frames import VideoFrames
    from longform_pack.core.meter.report import storyboard_timeline, video_report

    if args.models_dir is not None:
        host.set_models_dir(args.models_dir)
    if not args.video.is_file():
        raise FileNotFoundError(f"video: {args.video} does not exist.")
    timeline = None
    if args.storyboard is not None:
        timeline = storyboard_timeline(load_storyboard(args.storyboard, args.storyboard.resolve().parent))
    clip = load_encoder("clip", args.encoder) if args.encoder else None
    report = video_report(VideoFrames(args.video, args.fps), timeline, clip)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    (args.out / "report.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    report.plot().save(args.out / "report.png")
    for line in report.headline():
        logger.info("%s", line)
    logger.info("Wrote %s and %s.", args.out / "report.json", args.out / "report.png")
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(0 if main() else 1)
