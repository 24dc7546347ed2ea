"""Clip report from the command line: a video file (or a folder of frame PNGs) and its prompt schedule ->
report.png (adherence, temporal consistency, identity) and report.json.

    python scripts/clip_report.py --video outputs/LongForm/run/run.mp4 --schedule schedule.txt \\
        --encoder clip-vit-base-patch32.safetensors --reference face.png --out reports/run

The schedule is the text given to the Prompt Schedule node (a file, or the text itself); its frame count is the
number of frames read, and keyframes in seconds use --fps (default: the video's). Models come from --models-dir
(default: $LONGFORM_MODELS_DIR or ./models), the encoder from its encoders/ folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from _pack import load_pack

logger = logging.getLogger("LongForm")


def read_frames(video: Path | None, frames_dir: Path | None):
    """(uint8 frames [N, H, W, 3], fps or None) from a video file or a folder of PNG frames (sorted by name)."""
    import numpy as np
    from PIL import Image

    if video is not None:
        import imageio.v3 as iio

        if not video.exists():
            raise FileNotFoundError(f"--video: {video} does not exist.")
        return iio.imread(video, plugin="FFMPEG", index=None), iio.immeta(video, plugin="FFMPEG").get("fps")
    paths = sorted(frames_dir.glob("*.png")) if frames_dir is not None and frames_dir.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"--frames: no PNG frames in {frames_dir}.")
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths]), None


def main(argv: list[str] | None = None) -> dict:
    """Parse arguments, write report.png and report.json, return the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="mp4/webm clip")
    source.add_argument("--frames", type=Path, help="folder of frame PNGs (e.g. a streamed run's frames/)")
    parser.add_argument("--schedule", required=True, help="schedule text, or a file holding it")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default: the video's)")
    parser.add_argument("--interpolation", default="linear", help="the schedule's interpolation (for the switches)")
    parser.add_argument("--encoder", required=True, help="CLIP file in <models>/encoders")
    parser.add_argument("--reference", type=Path, default=None, help="identity reference picture")
    parser.add_argument("--insightface", default="", help="insightface pack (models/<name>) for a face score")
    parser.add_argument("--models-dir", type=Path, default=None, help="models folder (default: $LONGFORM_MODELS_DIR)")
    parser.add_argument("--out", type=Path, default=Path("clip_report"), help="output folder")
    args = parser.parse_args(argv)

    load_pack()
    import torch
    from PIL import Image

    from longform_pack.core import clip_report, host, images, schedule

    if args.models_dir is not None:
        host.set_models_dir(args.models_dir)
    frames, video_fps = read_frames(args.video, args.frames)
    fps = args.fps or video_fps
    text = Path(args.schedule).read_text(encoding="utf-8") if Path(args.schedule).is_file() else args.schedule
    parsed = schedule.parse_schedule(text, len(frames), fps=fps, interpolation=args.interpolation, field="--schedule")
    reference = images.from_pil(Image.open(args.reference)) if args.reference is not None else None
    report = clip_report.clip_report(torch.from_numpy(frames).float() / 255.0, parsed, args.encoder, reference,
                                     args.insightface)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    (args.out / "report.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    report.plot().save(args.out / "report.png")
    for crossing in summary["crossings"]:
        logger.info("%s -> %s: switch at frame %.1f, curves cross at %s", crossing["from"], crossing["to"],
                    crossing["switch_frame"], crossing["crossing_frame"])
    logger.info("Wrote %s and %s.", args.out / "report.json", args.out / "report.png")
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(0 if main() else 1)
