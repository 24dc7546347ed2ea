"""Storyboards: the example parses into the film it describes; every kind of error is reported with its line."""

import json
import shutil
from pathlib import Path

import pytest

from longform_pack.core.film.storyboard import (
    StoryboardError, load_storyboard, parse_storyboard, storyboard_schema,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "example_inputs"

GOOD = """\
title: tiny
fps: 4
width: 64
height: 64
characters:
  creature: {reference: longform_character.png, weight: 0.5}
scenes:
  - name: one
    duration: 2
    sketch: longform_sketch.png
    character: creature
    schedule: |
      0: a forest
      1s: a forest at dusk --neg rain
    transition: {crossfade: 3}
  - name: two
    duration: 1.5
    schedule: "0: a storm"
    transition: {morph: 2}
  - name: three
    duration: 1
    seed: 7
    schedule: "0: a town"
"""


def errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(StoryboardError) as caught:
        parse_storyboard(text, EXAMPLES, "board.yaml")
    assert "board.yaml has" in str(caught.value)
    return [(issue.line, issue.where, issue.message) for issue in caught.value.issues]


def test_a_storyboard_becomes_scenes_transitions_and_a_time_line():
    board = parse_storyboard(GOOD, EXAMPLES)
    assert [scene.name for scene in board.scenes] == ["one", "two", "three"]
    assert [scene.frame_count for scene in board.scenes] == [8, 6, 4]  # round(duration x fps)
    one, two, three = board.scenes
    assert one.character.name == "creature" and one.character.weight == 0.5
    assert one.character.reference == (EXAMPLES / "longform_character.png").resolve()
    assert one.sketch == (EXAMPLES / "longform_sketch.png").resolve() and two.sketch is None
    assert [k.frame for k in one.schedule.keyframes] == [0, 4]  # seconds relative to the scene
    assert one.schedule.keyframes[1].negative == "rain" and one.schedule.keyframes[0].negative == board.negative
    assert (one.seed, two.seed, three.seed) == (0, 1, 7)  # default: the scene's index
    assert (one.transition.kind, one.transition.frames) == ("crossfade", 3)
    assert (three.transition.kind, three.transition.frames) == ("cut", 0)
    assert [(s.kind, s.start, s.count) for s in board.timeline()] == [
        ("scene", 0, 8), ("crossfade", 8, 3), ("scene", 11, 6), ("morph", 17, 2), ("scene", 19, 4)]
    assert board.frame_count == 23 and board.seconds == 23 / 4
    assert board.render["steps"] == 20 and board.models["checkpoint"] == "v1-5-pruned-emaonly.safetensors"


def test_json_is_accepted_too():
    text = json.dumps({"title": "j", "fps": 8, "width": 64, "height": 64,
                       "scenes": [{"name": "a", "duration": 1, "schedule": "0: a cat"}]}, indent=1)
    assert parse_storyboard(text, EXAMPLES).frame_count == 8


def test_the_example_storyboard_is_a_minute_long(tmp_path):
    board = load_storyboard(EXAMPLES / "storyboard.yaml", EXAMPLES)
    assert 55 <= board.seconds <= 65
    assert len(board.scenes) >= 3 and {s.transition.kind for s in board.scenes} >= {"crossfade", "morph", "cut"}
    assert all(scene.character is not None and scene.sketch is not None for scene in board.scenes)


@pytest.mark.parametrize("change, line, where, fragment", [
    (("title: tiny", "title: a b"), 1, "storyboard.title", "is not a name"),
    (("fps: 4", "fps: 0"), 2, "storyboard.fps", "outside 1 to 60"),
    (("fps: 4", "fps: fast"), 2, "storyboard.fps", "expected a number"),
    (("width: 64", "width: 70"), 3, "storyboard.width", "multiple of 8"),
    (("height: 64\n", "height: 64\ncolour: red\n"), 5, "storyboard.colour", "unknown field"),
    (("{reference: longform_character.png, weight: 0.5}", "{weight: 0.5}"), 6, "characters.creature",
     "missing required field 'reference'"),
    (("reference: longform_character.png", "reference: missing.png"), 6, "characters.creature.reference",
     "is not in the input folder"),
    (("reference: longform_character.png", "reference: ../../etc/passwd.png"), 6, "characters.creature.reference",
     "'..' parts are refused"),
    (("reference: longform_character.png", "reference: /etc/hosts"), 6, "characters.creature.reference",
     "absolute paths are refused"),
    (("sketch: longform_sketch.png", "sketch: storyboard.yaml"), 10, "scenes[0].sketch", "is not a picture"),
    (("character: creature", "character: dragon"), 11, "scenes[0].character", "no character 'dragon'"),
    (("duration: 2\n", "duration: -2\n"), 9, "scenes[0].duration", "outside 0.1 to 600"),
    (("{crossfade: 3}", "{dissolve: 3}"), 15, "scenes[0].transition", "cut, {crossfade: N} or {morph: N}"),
    (("{crossfade: 3}", "{crossfade: 0}"), 15, "scenes[0].transition", "from 1 to 240"),
    (("  - name: two", "  - name: one"), 16, "scenes[1].name", "already scene 0's name"),
    (("    seed: 7\n", "    seed: 7\n    transition: {morph: 2}\n"), 23, "scenes[2].transition",
     "the last scene has a morph"),
    (("    duration: 1.5\n", ""), 16, "scenes[1]", "missing required field 'duration'"),
    (('schedule: "0: a storm"', "schedule: [a, b]"), 18, "scenes[1].schedule", "expected text"),
])
def test_every_error_names_its_line_and_field(change, line, where, fragment):
    old, new = change
    assert old in GOOD
    found = errors(GOOD.replace(old, new, 1))
    assert any(l == line and w == where and fragment in m for l, w, m in found), found


def test_schedule_errors_carry_the_storyboard_lines():
    text = GOOD.replace("      1s: a forest at dusk --neg rain\n", "      9s: too late\n      no colon here\n")
    found = errors(text)
    lines = {l for l, w, m in found if w == "scenes[0].schedule"}
    assert lines == {14, 15}, found  # the block starts on line 13 ("0: a forest")
    assert any("past the clip's last frame" in m for l, w, m in found)


def test_all_errors_are_reported_at_once():
    text = GOOD.replace("fps: 4", "fps: 0").replace("width: 64", "width: 65").replace("character: creature", "character: x")
    assert len(errors(text)) == 3


def test_syntax_and_shape_errors():
    assert errors("title: a\nfps: [1\n")[0][1] == "syntax"
    assert errors("- just a list\n")[0][2].startswith("the file must be a mapping")
    assert errors("title: a\nfps: 4\nwidth: 64\nheight: 64\nscenes: []\n")[0][1] == "scenes"


def test_a_missing_file_says_what_to_give(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_storyboard(tmp_path / "nope.yaml", tmp_path)


def test_the_schema_accepts_the_example_and_rejects_a_bad_field(tmp_path):
    import jsonschema
    import yaml

    schema = storyboard_schema()
    jsonschema.validate(yaml.safe_load((EXAMPLES / "storyboard.yaml").read_text()), schema)
    jsonschema.validate(yaml.safe_load(GOOD), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**yaml.safe_load(GOOD), "colour": "red"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        bad = yaml.safe_load(GOOD)
        bad["scenes"][0]["transition"] = {"dissolve": 3}
        jsonschema.validate(bad, schema)


def test_a_symlink_out_of_the_input_folder_is_refused(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "escape.png").symlink_to(EXAMPLES / "longform_sketch.png")
    text = GOOD.replace("longform_sketch.png", "escape.png")
    found = [(l, w, m) for l, w, m in errors_in(text, tmp_path / "input") if w == "scenes[0].sketch"]
    assert found and "leads outside the input folder" in found[0][2] and found[0][0] == 10


def errors_in(text, folder):
    with pytest.raises(StoryboardError) as caught:
        parse_storyboard(text, folder)
    return [(issue.line, issue.where, issue.message) for issue in caught.value.issues]


def test_pictures_resolve_in_the_given_input_folder(tmp_path):
    shutil.copy(EXAMPLES / "longform_sketch.png", tmp_path / "drawing.png")
    text = GOOD.replace("longform_sketch.png", "drawing.png").replace("characters:\n  creature: {reference: "
                                                                      "longform_character.png, weight: 0.5}\n", "")
    text = text.replace("    character: creature\n", "")
    board = parse_storyboard(text, tmp_path)
    assert board.scenes[0].sketch == (tmp_path / "drawing.png").resolve()
