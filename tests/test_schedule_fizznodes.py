"""FizzNodes parity: on FizzNodes' JSON form with `--neg`, our per-frame prompt weights are the ones its code computes.

The reference numbers in tests/data/fizznodes_schedules.json were produced by running FizzNodes' own
`batch_prompt_schedule` (ComfyUI_FizzNodes commit 7d6ea60, recorded in the file) on each example's text, with a
stand-in CLIP that encodes the i-th distinct text as the one-hot vector e_i, so each frame of the conditioning it
returns is that frame's weight of every text. Regenerate them from a FizzNodes checkout with:

    PYTHONPATH=/tmp/fizzdeps python scripts/fizznodes_reference.py /path/to/ComfyUI_FizzNodes \\
        > tests/data/fizznodes_schedules.json

(/tmp/fizzdeps: `pip install --target /tmp/fizzdeps pandas numexpr`, FizzNodes' requirements; none of its code is in
the pack). Our `linear` interpolation is FizzNodes' weighting; the schedule's default negative is "" here because a
FizzNodes keyframe without `--neg` has an empty negative prompt.
"""

import json
from pathlib import Path

import pytest
import torch

from longform_pack.core import schedule as sch

REFERENCE = json.loads((Path(__file__).parent / "data" / "fizznodes_schedules.json").read_text(encoding="utf-8"))
EXAMPLES = {example["name"]: example for example in REFERENCE["examples"]}


def ours(example) -> sch.PromptSchedule:
    return sch.parse_schedule(example["text"], example["max_frames"], default_negative="", interpolation="linear")


def as_frames(texts, table) -> list[dict[str, float]]:
    return [{text: float(row[i]) for i, text in enumerate(texts) if row[i] != 0.0} for row in table]


def test_reference_covers_the_json_form_with_negatives():
    assert REFERENCE["fizznodes_commit"].startswith("7d6ea60")
    assert len(EXAMPLES) == 4 and any("--neg" in example["text"] for example in EXAMPLES.values())
    # the reference is not trivial: frames that blend two prompts, and negatives that change along the clip
    blended = [frame for frame in EXAMPLES["negatives"]["positive"] if len(frame) == 2]
    assert len(blended) == 22
    assert EXAMPLES["negatives"]["negative"][5] == pytest.approx({"blurry": 7 / 12, "": 5 / 12})


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("side", ["positive", "negative"])
def test_per_frame_prompt_weights_equal_fizznodes(name, side):
    example = EXAMPLES[name]
    texts, table = ours(example).prompt_weights(negative=side == "negative")
    assert as_frames(texts, table) == example[side]  # float64, to the bit


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_blended_encodings_equal_fizznodes_conditioning(name):
    """The blender itself: one-hot encodings blended per frame give FizzNodes' conditioning rows, to the bit."""
    example = EXAMPLES[name]
    schedule = ours(example)
    texts = list(dict.fromkeys(schedule.prompts))
    one_hot = torch.eye(len(texts), dtype=torch.float64)
    keyframe_conds = [(one_hot[texts.index(prompt)][None, None], one_hot[texts.index(prompt)][None])
                      for prompt in schedule.prompts]
    cond, pooled = sch.blend_conditioning(keyframe_conds, schedule)
    assert cond.shape == (example["max_frames"], 1, len(texts))
    assert as_frames(texts, cond[:, 0].numpy()) == example["positive"]
    assert torch.equal(pooled, cond[:, 0])  # pooled blends like cond (FizzNodes passes the next keyframe's pooled)


def test_keyframes_of_the_default_layout():
    schedule = ours(EXAMPLES["default_layout"])
    assert [k.frame for k in schedule.keyframes] == [0, 11, 23, 35, 47, 59, 71, 83, 95, 107, 119]
    assert schedule.negatives[:4] == ["blurry", "", "dark", "dark"]
