"""A film unit's key holds the content of the model files its workflow names (core/film/model_digests.py): a model
replaced under the same name makes its units render again; an unchanged one keeps them done, hashed once."""

import json
import os

import pytest

from longform_pack.core import file_hash, host
from longform_pack.core.film import model_digests as model_digests_module
from longform_pack.core.film import plan as film_plan
from longform_pack.core.film.model_digests import model_digests
from longform_pack.core.film.storyboard import parse_storyboard
from test_film import example_pictures
from test_film_storyboard import GOOD


@pytest.fixture
def inputs(tmp_path):
    return example_pictures(tmp_path / "input")


@pytest.fixture
def folders(inputs):
    """The input folder with the storyboard's pictures and a models dir with a small file for every model it names."""
    board = parse_storyboard(GOOD, inputs)
    models = inputs.parent / "models"
    folder_of = {"checkpoint": "checkpoints", "lora": "loras", "controlnet": "controlnet",
                 "clip_vision": "clip_vision", "ipadapter": "ipadapter"}
    for role, name in board.models.items():
        if role in folder_of:
            (models / folder_of[role]).mkdir(parents=True, exist_ok=True)
            (models / folder_of[role] / name).write_bytes(role.encode() * 100)
    previous = host.set_models_dir(models)
    yield inputs, models, board
    host.set_models_dir(previous)


def finished_plan(pack, inputs, board):
    """A plan whose rendered units are recorded as done with their current keys (as the renderer records them)."""
    plan = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    for unit_id, unit in plan.units.items():
        plan.unit_dir(unit_id).mkdir(parents=True, exist_ok=True)
        (plan.unit_dir(unit_id) / film_plan.UNIT_FILE).write_text(json.dumps({"key": unit.key, "status": "done"}))
    return plan


def test_a_model_replaced_under_the_same_name_renders_its_units_again(pack, folders):
    inputs, models, board = folders
    plan = finished_plan(pack, inputs, board)
    again = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    assert all(again.is_done(unit_id) for unit_id in again.units)  # nothing changed: everything stays done

    checkpoint = models / "checkpoints" / board.models["checkpoint"]
    before = checkpoint.stat()
    checkpoint.write_bytes(b"x" * before.st_size)  # another model of the same size under the same name
    os.utime(checkpoint, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))  # coarse-mtime file systems
    replaced = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    assert not any(replaced.is_done(unit_id) for unit_id in replaced.units)  # every unit loads the checkpoint
    assert all(replaced.units[unit_id].key != plan.units[unit_id].key for unit_id in plan.units)


def test_a_replaced_ipadapter_renders_only_the_units_that_load_it(pack, folders):
    inputs, models, board = folders
    plan = finished_plan(pack, inputs, board)
    ipadapter = models / "ipadapter" / board.models["ipadapter"]
    ipadapter.write_bytes(b"another adapter")
    replaced = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    changed = {unit_id for unit_id in plan.units if replaced.units[unit_id].key != plan.units[unit_id].key}
    locked = {unit_id for unit_id, unit in plan.units.items() if unit.workflow is not None and any(
        node["class_type"] == "LF_IdentityLock" for node in unit.workflow.values())}
    assert locked and changed == locked | {"stitch"} | {
        unit_id for unit_id, unit in plan.units.items() if set(unit.deps) & locked}


def test_digests_name_every_model_and_are_hashed_once(pack, folders, monkeypatch):
    inputs, models, board = folders
    plan = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    workflow = plan.units["keyframe-one"].workflow
    digests = model_digests(workflow)
    checkpoint = models / "checkpoints" / board.models["checkpoint"]
    assert digests[f"checkpoints/{board.models['checkpoint']}"] == file_hash.sha256_file(checkpoint)
    assert {key.split("/")[0] for key in digests} >= {"checkpoints", "loras", "controlnet"}
    assert file_hash.sidecar_path(checkpoint).is_file()

    def no_rehash(path):
        raise AssertionError(f"{path} was hashed again although its size and mtime did not change")

    monkeypatch.setattr(file_hash, "sha256_file", no_rehash)
    assert model_digests(workflow) == digests


def test_a_model_missing_here_is_keyed_by_name_with_a_warning(pack, folders, caplog, monkeypatch):
    inputs, models, board = folders
    monkeypatch.setattr(model_digests_module, "_unseen", set())  # warned once per process: earlier tests may have
    (models / "loras" / board.models["lora"]).unlink()
    plan = film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)
    assert model_digests(plan.units["keyframe-one"].workflow)[f"loras/{board.models['lora']}"] == "not found here"
    assert "cannot see loras/" in caplog.text
