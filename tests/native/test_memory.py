"""The models the pack loads itself live in ComfyUI's model management: loaded through it, evicted by it."""

import pytest
import torch

from longform_pack.core import ddpm, host, manifest, probe

ENCODERS = {kind: manifest.entry(entry).tiny_filename for kind, entry in
            (("clip", "clip_probe"), ("resnet50", "resnet50"), ("bert", "bert_base_uncased"))}


def held_by_comfyui(comfy, managed: host.ManagedModel) -> bool:
    return any(loaded.model is managed.patcher for loaded in comfy.model_management.current_loaded_models)


def use(encoder):
    if "image" in encoder.modalities:
        return encoder.encode_images(torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(0))).vectors
    return encoder.encode_texts(["a red square", "a blue circle"]).vectors


@pytest.mark.parametrize("kind", sorted(ENCODERS))
def test_probe_encoders_are_loaded_and_evicted_by_comfyui(comfy, kind):
    encoder = probe.load_encoder(kind, ENCODERS[kind])
    assert encoder.managed.patcher is not None and encoder.managed.dtype == torch.float32  # ComfyUI on the CPU
    first = use(encoder)
    assert held_by_comfyui(comfy, encoder.managed)
    comfy.model_management.unload_all_models()
    assert not held_by_comfyui(comfy, encoder.managed)
    # The cached encoder comes back through ComfyUI on its next use, with the same results.
    torch.testing.assert_close(use(probe.load_encoder(kind, ENCODERS[kind])), first)
    assert held_by_comfyui(comfy, encoder.managed)
    comfy.model_management.unload_all_models()


def test_ddpm_is_loaded_and_evicted_by_comfyui(comfy, tmp_path):
    network = ddpm.UNet(ddpm.ModelConfig(base_channels=8, channel_mults=(1, 2), class_names=["a", "b"]))
    path = ddpm.save_model(ddpm.DDPMModel(network, ddpm.Diffusion("cosine", 50, "epsilon"), {}), tmp_path / "tiny.safetensors")
    model = ddpm.load_model(path)
    first = ddpm.sample(model, ["a", "b"], steps=2, seed=1).images
    assert model.managed.patcher is not None and held_by_comfyui(comfy, model.managed)
    comfy.model_management.unload_all_models()
    assert not held_by_comfyui(comfy, model.managed)
    torch.testing.assert_close(ddpm.sample(model, ["a", "b"], steps=2, seed=1).images, first)
    comfy.model_management.unload_all_models()


def test_training_asks_comfyui_for_room(comfy, monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(comfy.model_management, "free_memory", lambda size, device, *a, **k: asked.append((size, device)))
    config = ddpm.TrainConfig(steps=1, batch_size=4, base_channels=8, warmup_steps=1, checkpoint_every=1000)
    ddpm.train(config, folder=tmp_path)
    assert len(asked) == 1 and asked[0][0] > 0 and asked[0][1] == host.torch_device()


@pytest.fixture(autouse=True, scope="module")
def forget_encoders():
    """Drop the cached encoders while ComfyUI is still importable (their patchers detach on deletion)."""
    yield
    probe.clear_cache()
