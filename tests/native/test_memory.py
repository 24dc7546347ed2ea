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
    # Unloading also emptied the pack's cache: the encoder is loaded again, through ComfyUI, with the same results.
    again = probe.load_encoder(kind, ENCODERS[kind])
    assert again is not encoder
    torch.testing.assert_close(use(again), first)
    assert held_by_comfyui(comfy, again.managed)
    comfy.model_management.unload_all_models()


def test_unloading_comfyuis_models_releases_the_packs_caches(comfy):
    """POST /free with unload_models calls unload_all_models: the encoders, tokenizers and face analyzers the pack
    caches are let go with ComfyUI's models, so their memory is freed once nothing else holds them."""
    import gc
    import weakref

    from longform_pack.core import encoders, faces

    encoder = probe.load_encoder("clip", ENCODERS["clip"])
    use(encoder)
    probe.token_view("clip", "a red square")
    faces.load_analyzer("models/longform_tiny")
    assert encoders._CACHE and faces._ANALYZERS and encoders.load_tokenizer.cache_info().currsize
    released = weakref.ref(encoder.managed.patcher.model)
    del encoder
    comfy.model_management.unload_all_models()
    gc.collect()
    assert not encoders._CACHE and not faces._ANALYZERS and not encoders.load_tokenizer.cache_info().currsize
    assert released() is None  # the encoder's weights are gone, not only moved to the offload device


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
