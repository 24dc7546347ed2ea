"""DDPM node classes called directly: train into models/ddpm, list and load it, sample with every output."""

import pytest
import torch
from PIL import Image

from longform_pack.core import host
from longform_pack.nodes import ddpm as nodes

TRAIN_ARGS = dict(dataset="digits", image_size=8, steps=6, batch_size=16, learning_rate=2e-3, seed=0,
                  schedule="cosine", resume=True)


@pytest.fixture
def models_dir(tmp_path):
    previous = host.set_models_dir(tmp_path / "models")
    yield tmp_path / "models"
    host.set_models_dir(previous)


def test_every_input_has_a_tooltip_and_every_node_a_description():
    for node in nodes.NODE_CLASS_MAPPINGS.values():
        assert node.DESCRIPTION and node.CATEGORY == "LongForm/ddpm"
        inputs = node.INPUT_TYPES()
        for name, spec in {**inputs["required"], **inputs.get("optional", {})}.items():
            assert spec[1].get("tooltip"), f"{node.__name__}.{name} has no tooltip"


def test_train_load_and_sample(models_dir, output_dir):
    model, loss_curve, summary = nodes.LF_DDPMTrain().train(**TRAIN_ARGS, name="node-digits")
    assert (models_dir / "ddpm" / "node-digits.safetensors").exists()
    assert (models_dir / "ddpm" / "node-digits.json").exists()
    assert loss_curve.ndim == 4 and loss_curve.shape[-1] == 3 and "6 steps" in summary

    assert "node-digits.safetensors" in nodes.LF_DDPMLoader.INPUT_TYPES()["required"]["model_file"][0]
    (loaded,) = nodes.LF_DDPMLoader().load("node-digits.safetensors")

    sampler = nodes.LF_DDPMSample()
    args = dict(labels="3 x 2\n8", guidance=3.0, sampler="ddim", steps=5, eta=0.0, seed=4, strip_columns=4,
                strip_rows=2, filename_prefix="ddpm/strip")
    result = sampler.sample(loaded, **args)
    images, grid, strip, animation_path = result["result"]
    assert images.shape == (3, 8, 8, 3) and grid.shape[0] == 1 and strip.shape[0] == 1
    trained_images = sampler.sample(model, **args)["result"][0]
    assert torch.equal(images, trained_images)  # the saved file samples like the model that was trained
    assert result["ui"]["images"][0] == {"filename": "strip_00001_.webp", "subfolder": "ddpm", "type": "output"}
    with Image.open(animation_path) as animation:
        assert animation.n_frames == 5 + 1  # every recorded step, then the final samples


def test_a_second_queue_of_a_finished_run_trains_nothing(models_dir):
    trainer = nodes.LF_DDPMTrain()
    first = trainer.train(**TRAIN_ARGS, name="again")[2]
    again = trainer.train(**TRAIN_ARGS, name="again")[2]
    assert "6 steps" in first and "6 steps" in again
    more = trainer.train(**{**TRAIN_ARGS, "steps": 8}, name="again")[2]
    assert "8 steps" in more


def test_node_errors_name_the_input(models_dir):
    model = nodes.LF_DDPMTrain().train(**TRAIN_ARGS, name="errors")[0]
    with pytest.raises(ValueError, match="unknown label"):
        nodes.LF_DDPMSample().sample(model, "3\ncat", 3.0, "ddim", 2, 0.0, 0, 4, 1, "ddpm/x")
    with pytest.raises(ValueError, match="'name' is '../escape': give a single name"):
        nodes.LF_DDPMTrain().train(**TRAIN_ARGS, name="../escape")
    with pytest.raises(FileNotFoundError, match=r"'missing.safetensors' not found in .*ddpm\. Choose a file"):
        nodes.LF_DDPMLoader().load("missing.safetensors")
