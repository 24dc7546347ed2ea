"""Reference per-frame prompt weights from FizzNodes' own BatchPromptSchedule code, for the parity test.

    pip install --target /tmp/fizzdeps pandas numexpr      # FizzNodes' requirements, outside the pack's venv
    rm -rf /tmp/fizzdeps/numpy*                            # keep the venv's numpy (torch is built against it)
    git clone https://github.com/FizzleDorf/ComfyUI_FizzNodes /tmp/ComfyUI_FizzNodes
    PYTHONPATH=/tmp/fizzdeps python scripts/fizznodes_reference.py /tmp/ComfyUI_FizzNodes \\
        > tests/data/fizznodes_schedules.json

FizzNodes' README shows its examples as workflow pictures, not as text; the examples below are written in the form its
README and node take (the JSON form with `--neg`, the first laid out as its node's default text). For each, this runs
FizzNodes' `batch_prompt_schedule` (ScheduleTypes.py: process_input_text -> batch_split_weighted_subprompts ->
interpolate_prompt_seriesA -> BatchPoolAnimConditioning) with a stand-in CLIP that encodes the i-th distinct text as
the float64 one-hot vector e_i, so the conditioning FizzNodes returns for frame f *is* that frame's weight of every
text. It writes those weights (positive and negative, one {text: weight} per frame) and the FizzNodes commit.
Nothing of FizzNodes is copied into the pack: its code runs from the checkout given on the command line. Its `comfy`
import (unused by these functions) is stubbed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import torch

# (name, FizzNodes text, max_frames). The first follows its node's default text (keyframes 0, 11, ..., 119 of 120).
EXAMPLES = [
    (
        "default_layout",
        '"0" :"a spring meadow, flowers --neg blurry",\n"11" :"a summer meadow, tall grass",\n'
        '"23" :"an autumn forest, red leaves --neg dark",\n"35" :"a winter forest, snow --neg dark",\n'
        '"47" :"a frozen lake",\n"59" :"a frozen lake",\n"71" :"a thawing river --neg lowres",\n'
        '"83" :"a river in spring",\n"95" :"a city at dusk --neg people",\n"107" :"a city at night --neg people",\n'
        '"119" :"a city at dawn"\n',
        120,
    ),
    ("negatives", '"0": "a cat --neg blurry",\n"12": "a dog",\n"24": "a bird --neg dark, grainy",\n', 32),
    ("late_first_keyframe", '"8": "sunrise over the sea",\n"20": "sunset over the sea --neg noise"', 28),
    ("hold_then_change", '"0": "a forest",\n"10": "a forest",\n"20": "a city --neg fog",\n"27": "a desert"', 30),
]


def load_fizznodes(checkout: Path) -> types.ModuleType:
    """FizzNodes' ScheduleTypes module from `checkout`, without running its __init__ (which copies web files)."""
    sys.modules.setdefault("comfy", types.ModuleType("comfy"))
    package = types.ModuleType("fizznodes")
    package.__path__ = [str(checkout)]
    sys.modules["fizznodes"] = package
    return importlib.import_module("fizznodes.ScheduleTypes")


class OneHotClip:
    """A CLIP stand-in: text i (in order of first sight) encodes as e_i, for cond [1, 1, size] and pooled [1, size]."""

    def __init__(self, size: int = 64):
        self.size, self.texts = size, []

    def tokenize(self, text: str) -> str:
        return text

    def encode_from_tokens(self, text: str, return_pooled: bool = True):
        if text not in self.texts:
            self.texts.append(text)
        vector = torch.zeros(1, self.size, dtype=torch.float64)
        vector[0, self.texts.index(text)] = 1.0
        return vector[:, None, :], vector


def run_example(fizz: types.ModuleType, text: str, max_frames: int) -> dict:
    """FizzNodes' per-frame weights for `text`: {positive, negative}, each a {text: weight} per frame."""
    clip = OneHotClip()
    settings = fizz.ScheduleSettings(
        text_g=text, pre_text_G="", app_text_G="", text_L=None, pre_text_L=None, app_text_L=None,
        max_frames=max_frames, current_frame=None, print_output=False, pw_a=0, pw_b=0, pw_c=0, pw_d=0,
        start_frame=0, end_frame=0, width=None, height=None, crop_w=None, crop_h=None, target_width=None,
        target_height=None,
    )
    with contextlib.redirect_stdout(sys.stderr):  # FizzNodes prints notes
        positive, negative = fizz.batch_prompt_schedule(settings, clip)

    def weights(conditioning) -> list[dict[str, float]]:
        cond = conditioning[0][0][:, 0, :]
        frames = []
        for row in cond:  # FizzNodes leaves the spaces around a prompt it adds here (its end_frame is 0): strip them
            weights = {}
            for index, text in enumerate(clip.texts):
                if row[index] != 0.0:
                    weights[text.strip()] = weights.get(text.strip(), 0.0) + float(row[index])
            frames.append(weights)
        return frames

    return {"positive": weights(positive), "negative": weights(negative)}


def main() -> None:
    checkout = Path(sys.argv[1]).resolve()
    fizz = load_fizznodes(checkout)
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    out = {
        "produced_by": "scripts/fizznodes_reference.py running FizzNodes' batch_prompt_schedule (see its docstring)",
        "fizznodes_commit": commit.strip() or "unknown",
        "examples": [
            {"name": name, "text": text, "max_frames": frames, **run_example(fizz, text, frames)}
            for name, text, frames in EXAMPLES
        ],
    }
    # one frame per line: readable in a diff, small in the repository
    text = json.dumps(out, indent=1)
    for example in out["examples"]:
        for side in ("positive", "negative"):
            text = text.replace(json.dumps(example[side], indent=1).replace("\n", "\n   "),
                                "[\n" + ",\n".join("    " + json.dumps(frame) for frame in example[side]) + "\n   ]", 1)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
