"""Sketch preparation and the stylize node classes, called directly on the tiny models."""

import pytest
import torch

from longform_pack.core import sketch
from longform_pack.core.sketch import ScribbleSettings
from longform_pack.nodes import stylize as nodes


def drawing(height: int = 100, width: int = 130, ink: float = 0.0, paper: float = 1.0) -> torch.Tensor:
    """A pen drawing: two 1-pixel strokes (a cross) of `ink` on `paper`."""
    picture = torch.full((1, height, width, 3), paper)
    picture[:, height // 2, 10 : width - 10] = ink
    picture[:, 10 : height - 10, width // 2] = ink
    return picture


def test_dark_on_light_is_inverted_automatically():
    scribble, preview = sketch.prepare_scribble(drawing())
    assert scribble.shape == (1, 96, 128, 3)  # rounded down to multiples of 8
    assert preview.shape == (1, 96, 256, 3)  # input beside its map
    # White lines on a black background: the paper becomes black.
    assert scribble[0, 0, 0].tolist() == [0.0, 0.0, 0.0] and scribble[0, 48, 64].tolist() == [1.0, 1.0, 1.0]
    light_on_dark, _ = sketch.prepare_scribble(drawing(ink=1.0, paper=0.0))
    assert torch.equal(scribble, light_on_dark)
    forced, _ = sketch.prepare_scribble(drawing(), ScribbleSettings(invert="light lines on dark"))
    assert forced.mean() > 0.9  # forcing the wrong polarity makes the paper the "lines"


def test_thin_lines_are_thickened_to_the_minimum_width():
    for wanted in (3, 7):
        scribble, _ = sketch.prepare_scribble(drawing(), ScribbleSettings(min_line_width=wanted))
        width = sketch.stroke_width(scribble[0, ..., 0].numpy() > 0)
        assert wanted - 1 <= width <= wanted + 2.5
    untouched, _ = sketch.prepare_scribble(drawing(), ScribbleSettings(min_line_width=1))
    assert sketch.stroke_width(untouched[0, ..., 0].numpy() > 0) < 1.5


def test_threshold_and_resize():
    faint = drawing(ink=0.7)  # a light grey pencil line: ink strength 0.3
    with pytest.raises(ValueError, match="blank after thresholding at threshold=0.5"):
        sketch.prepare_scribble(faint, ScribbleSettings(threshold=0.5))
    kept, _ = sketch.prepare_scribble(faint, ScribbleSettings(threshold=0.2, width=64))
    assert kept.shape == (1, 48, 64, 3) and kept.sum() > 0  # height follows the aspect ratio, snapped to 8


def test_edges_outline_a_photo():
    photo = torch.full((1, 64, 64, 3), 0.2)
    photo[:, 16:48, 16:48] = torch.tensor([0.9, 0.6, 0.3])  # a filled square: edges only on its border
    scribble, _ = sketch.prepare_scribble(photo, ScribbleSettings(edges=True, min_line_width=1))
    lines = scribble[0, ..., 0].numpy() > 0
    assert lines[16, 30] or lines[15, 30]
    assert not lines[32, 32] and not lines[2, 2]


def test_blank_sketch_and_bad_fields_are_errors():
    with pytest.raises(ValueError, match="blank"):
        sketch.prepare_scribble(torch.ones(1, 64, 64, 3))
    with pytest.raises(ValueError, match="image 1 of the batch"):
        sketch.prepare_scribble(torch.cat([drawing(64, 64), torch.ones(1, 64, 64, 3)]))
    with pytest.raises(ValueError, match="'invert'"):
        sketch.prepare_scribble(drawing(), ScribbleSettings(invert="sideways"))
    with pytest.raises(ValueError, match="'image'"):
        sketch.prepare_scribble(torch.ones(64, 64, 3))


def test_every_node_input_has_a_tooltip():
    for node in nodes.NODE_CLASS_MAPPINGS.values():
        assert node.DESCRIPTION and node.CATEGORY == "LongForm/stylize"
        for section in ("required", "optional"):
            for name, spec in node.INPUT_TYPES().get(section, {}).items():
                assert spec[1].get("tooltip"), f"{node.__name__}.{name} has no tooltip"


def test_sketch_node_gives_scribble_and_preview():
    scribble, preview = nodes.LF_SketchToScribble().prepare(drawing(70, 70), 0.5, "auto", 3, False, 64, 64)
    assert scribble.shape == (1, 64, 64, 3) and preview.shape == (1, 64, 128, 3)
    assert set(torch.unique(scribble).tolist()) == {0.0, 1.0}
