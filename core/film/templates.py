"""Unit templates: any ComfyUI API-format workflow, plus the slots the film fills in it.

A slot is declared in a node's title (`_meta.title` in the exported API JSON), where the user sees it in ComfyUI:

    "Positive [film:prompt]"          the slot `prompt` is this node's `text` input (the slot's default input)
    "Wan Latent [film:frames=length] [film:width] [film:height]"   several tags; `=name` picks the input
    "Save [film:images]"              the SaveImage whose `filename_prefix` the film sets; its images are the unit's

A slot may be declared on several nodes (the film sets each). The film fills the slots it has values for and leaves
every other input as the workflow has it; the tags are dropped from the titles of the workflow it renders, so they
never change a unit's key. `check()` compares a template with a ComfyUI's /object_info (the server's, or this
process's node classes through core/host.py) before anything renders; each error names the template, the slot and
the node, and says what to add.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TAG_RE = re.compile(r"\[film:([A-Za-z_]+)(?:=([A-Za-z0-9_]+))?\]")
_TAGS_RE = re.compile(r"\s*\[film:[^\]]*\]")


@dataclass(frozen=True)
class SlotSpec:
    """What a slot is: the input names tried when a tag names none, the types it accepts (COMBO: a list of choices),
    the node types it must sit on (empty: any), and which node the user should tag when it is missing."""

    inputs: tuple[str, ...]
    types: tuple[str, ...]
    hint: str
    node_types: tuple[str, ...] = ()


SLOTS: dict[str, SlotSpec] = {
    "prompt": SlotSpec(("text",), ("STRING",), "the CLIPTextEncode of the positive prompt"),
    "negative": SlotSpec(("text",), ("STRING",), "the CLIPTextEncode of the negative prompt"),
    "prompt_next": SlotSpec(("text",), ("STRING",),
                            "a second CLIPTextEncode (the prompt a transition chunk blends into), linked to a "
                            "ConditioningAverage's conditioning_to"),
    "prompt_blend": SlotSpec(("conditioning_to_strength",), ("FLOAT",),
                             "the ConditioningAverage that blends prompt_next (conditioning_to) with prompt "
                             "(conditioning_from)"),
    "start_image": SlotSpec(("image",), ("COMBO",), "the LoadImage that takes the first frame(s)", ("LoadImage",)),
    "seed": SlotSpec(("seed", "noise_seed"), ("INT",), "the KSampler (or RandomNoise) whose seed the film sets"),
    "steps": SlotSpec(("steps",), ("INT",), "the KSampler whose steps the storyboard sets"),
    "frames": SlotSpec(("length", "frames", "batch_size"), ("INT",),
                       "the node that sets the clip's length (e.g. Wan22ImageToVideoLatent, as [film:frames=length])"),
    "width": SlotSpec(("width",), ("INT",), "the node that sets the frame width (the latent)"),
    "height": SlotSpec(("height",), ("INT",), "the node that sets the frame height (the latent)"),
    "fps": SlotSpec(("fps", "frame_rate"), ("FLOAT", "INT"), "the node that takes the frame rate"),
    "images": SlotSpec(("filename_prefix",), ("STRING",), "the SaveImage that saves the frames", ("SaveImage",)),
}


@dataclass(frozen=True)
class SlotTarget:
    """One input the film sets: node id and input name."""

    node: str
    input: str


@dataclass(frozen=True)
class UnitTemplate:
    """An API-format workflow and its slots (slot name -> the inputs it sets), named for error messages."""

    name: str
    workflow: dict[str, Any]
    slots: dict[str, tuple[SlotTarget, ...]]

    def has(self, slot: str) -> bool:
        return slot in self.slots

    def require(self, slots: tuple[str, ...], purpose: str) -> None:
        """ValueError naming the first of `slots` no node declares, and what to tag."""
        for slot in slots:
            if slot not in self.slots:
                raise ValueError(f"template {self.name}: no node declares slot '{slot}', which {purpose} needs; add "
                                 f"[film:{slot}] to the title of {SLOTS[slot].hint}.")

    def fill(self, values: dict[str, Any]) -> dict[str, Any]:
        """The workflow with each slot in `values` set (slots the template lacks are left out) and the tags taken
        out of the titles."""
        unknown = set(values) - set(SLOTS)
        if unknown:
            raise KeyError(f"no slots {sorted(unknown)}; known: {', '.join(SLOTS)}")
        workflow = copy.deepcopy(self.workflow)
        for slot, value in values.items():
            for target in self.slots.get(slot, ()):
                workflow[target.node]["inputs"][target.input] = value
        for node in workflow.values():
            meta = node.get("_meta")
            if meta and "title" in meta:
                meta["title"] = _TAGS_RE.sub("", meta["title"]).strip() or node["class_type"]
        return workflow

    def check(self, object_info: dict[str, Any]) -> None:
        """ValueError listing every way the workflow does not fit `object_info` (a ComfyUI's /object_info): unknown
        node types, links to missing nodes or outputs, slots on missing inputs or inputs of the wrong type."""
        problems = []
        for node_id, node in self.workflow.items():
            info = object_info.get(node["class_type"])
            if info is None:
                problems.append(f"node {_shown(node_id, node)} is a {node['class_type']}, which this ComfyUI does not "
                                "have: install the custom nodes it comes from, or replace it")
                continue
            for input_name, value in node["inputs"].items():
                if _is_link(value):
                    source = self.workflow.get(str(value[0]))
                    if source is None:
                        problems.append(f"node {_shown(node_id, node)}'s input '{input_name}' is linked to node "
                                        f"{value[0]}, which the workflow does not have: export it again")
                    elif (source_info := object_info.get(source["class_type"])) is not None and \
                            not 0 <= value[1] < len(source_info.get("output", ())):
                        problems.append(f"node {_shown(node_id, node)}'s input '{input_name}' takes output "
                                        f"{value[1]} of node {_shown(str(value[0]), source)}, which has "
                                        f"{len(source_info.get('output', ()))}: export it again")
        for slot, targets in self.slots.items():
            spec = SLOTS[slot]
            for target in targets:
                node = self.workflow[target.node]
                info = object_info.get(node["class_type"])
                if info is None:
                    continue
                if spec.node_types and node["class_type"] not in spec.node_types:
                    problems.append(f"slot '{slot}' is on node {_shown(target.node, node)}, a {node['class_type']}; "
                                    f"put [film:{slot}] on {spec.hint}")
                    continue
                declared = _declared(info)
                if target.input not in declared:
                    problems.append(f"slot '{slot}' names input '{target.input}' of node {_shown(target.node, node)}, "
                                    f"a {node['class_type']} with inputs {', '.join(declared) or 'none'}: write "
                                    f"[film:{slot}=<input>] with one of them")
                    continue
                kind = _input_type(declared[target.input])
                if kind not in spec.types:
                    problems.append(f"slot '{slot}' is input '{target.input}' of node {_shown(target.node, node)}, "
                                    f"of type {kind}; it needs {' or '.join(spec.types)}")
                elif _is_link(node["inputs"].get(target.input)):
                    problems.append(f"slot '{slot}' is input '{target.input}' of node {_shown(target.node, node)}, "
                                    "which is linked to another node; the film sets it, so make it a widget value")
        if problems:
            raise ValueError(f"template {self.name} does not fit this ComfyUI:\n" +
                             "\n".join(f"  - {problem}" for problem in problems))


    def check_values(self, workflow: dict[str, Any], object_info: dict[str, Any], fields: dict[str, str]) -> None:
        """ValueError when a whole number the film put in a slot of `workflow` (this template filled) is not one its
        input takes (/object_info's min, max, and step counted from min); `fields` names the storyboard field each
        slot's value comes from."""
        for slot, field in fields.items():
            for target in self.slots.get(slot, ()):
                node = workflow[target.node]
                declaration = _declared(object_info.get(node["class_type"], {})).get(target.input)
                options = declaration[1] if isinstance(declaration, (list, tuple)) and len(declaration) > 1 else {}
                value = node["inputs"].get(target.input)
                if not isinstance(value, int) or isinstance(value, bool):
                    continue
                low, high, step = options.get("min", 0), options.get("max", value), options.get("step", 1)
                step = step if isinstance(step, int) and step > 1 else 1
                if low <= value <= high and (value - low) % step == 0:
                    continue
                below = max(low, value - (value - low) % step)
                fits = sorted({candidate for candidate in (below, below + step) if low <= candidate <= high})
                raise ValueError(f"{field} is {value}, but template {self.name} puts it in input '{target.input}' "
                                 f"of node {_shown(target.node, node)}, a {node['class_type']} that takes {low} to "
                                 f"{high}" + (f" in steps of {step}" if step > 1 else "") +
                                 (f"; use {' or '.join(map(str, fits))}" if fits else "") + f" (slot '{slot}').")


def parse_template(workflow: Any, name: str) -> UnitTemplate:
    """A template from an API-format workflow ({id: {class_type, inputs, _meta}}), its slots read from the node
    titles. ValueError for a UI-format export, an unknown slot, or a tag on a node lacking every default input."""
    if isinstance(workflow, dict) and "nodes" in workflow and "links" in workflow:
        raise ValueError(f"template {name} is a UI workflow; in ComfyUI use Workflow > Export (API) and give that "
                         "file instead.")
    if not isinstance(workflow, dict) or not workflow or not all(
            isinstance(node, dict) and "class_type" in node and isinstance(node.get("inputs"), dict)
            for node in workflow.values()):
        raise ValueError(f"template {name} is not an API-format workflow ({{id: {{class_type, inputs}}}}); in ComfyUI "
                         "use Workflow > Export (API).")
    slots: dict[str, list[SlotTarget]] = {}
    for node_id, node in workflow.items():
        title = (node.get("_meta") or {}).get("title", "")
        for slot, named in _TAG_RE.findall(title):
            if slot not in SLOTS:
                raise ValueError(f"template {name}: node {_shown(node_id, node)} has [film:{slot}], which is no slot; "
                                 f"slots: {', '.join(SLOTS)}.")
            if named:
                input_name = named
            else:
                input_name = next((candidate for candidate in SLOTS[slot].inputs if candidate in node["inputs"]),
                                  None)
                if input_name is None:
                    raise ValueError(f"template {name}: node {_shown(node_id, node)} has [film:{slot}] but no input "
                                     f"named {' or '.join(SLOTS[slot].inputs)}; write [film:{slot}=<input>].")
            slots.setdefault(slot, []).append(SlotTarget(str(node_id), input_name))
    return UnitTemplate(name, {str(node_id): node for node_id, node in workflow.items()},
                        {slot: tuple(targets) for slot, targets in slots.items()})


def load_template(path: Path) -> UnitTemplate:
    """The template in an API-format workflow file (its name in errors is the file's)."""
    path = Path(path)
    try:
        workflow = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"template {path.name} is not JSON ({error}); in ComfyUI use Workflow > Export (API).") \
            from None
    return parse_template(workflow, path.name)


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) and \
        isinstance(value[1], int)


def _declared(info: dict[str, Any]) -> dict[str, Any]:
    """An /object_info entry's inputs, required and optional, by name."""
    return {**info.get("input", {}).get("required", {}), **info.get("input", {}).get("optional", {})}


def _input_type(declaration: Any) -> str:
    """An /object_info input declaration's type: COMBO for a list of choices (V1) or "COMBO" (V3)."""
    kind = declaration[0] if isinstance(declaration, (list, tuple)) and declaration else declaration
    return "COMBO" if isinstance(kind, (list, tuple)) else str(kind)


def _shown(node_id: str, node: dict[str, Any]) -> str:
    title = _TAGS_RE.sub("", (node.get("_meta") or {}).get("title", "")).strip()
    return f"{node_id} ({title})" if title and title != node["class_type"] else str(node_id)


__all__ = ["SLOTS", "SlotSpec", "SlotTarget", "UnitTemplate", "load_template", "parse_template"]
