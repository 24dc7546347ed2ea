"""The check at load (core/host.py check_comfyui): ComfyUI's version logged, each internal the pack uses checked by
feature, a missing one named in the error; the interrupt passes through the pack whether it is an Exception (0.3.64)
or a BaseException (newer ComfyUI)."""

import logging

import pytest


def test_this_comfyui_has_every_feature_and_its_version_is_logged(comfy, pack, caplog):
    caplog.set_level(logging.INFO, logger="LongForm")
    version = pack.core.host.check_comfyui()
    assert version == (comfy.dir / "comfyui_version.py").read_text().split('"')[-2]
    assert f"ComfyUI {version}: every internal the pack uses is there." in caplog.text


@pytest.mark.parametrize("module, name, named", [
    ("comfy.model_patcher.ModelPatcher", "set_model_attn2_replace", "set_model_attn2_replace"),
    ("comfy.sample", "sample", "comfy.sample.sample"),
    ("comfy.lora", "model_lora_keys_unet", "model_lora_keys_unet"),
    ("comfy.lora", "model_lora_keys_clip", "model_lora_keys_clip"),
    ("comfy.model_management", "InterruptProcessingException", "InterruptProcessingException"),
    ("comfy.ldm.modules.attention", "optimized_attention", "optimized_attention"),
])
def test_a_missing_feature_fails_the_load_with_its_name(comfy, pack, monkeypatch, module, name, named):
    import importlib

    path, _, attribute = module.rpartition(".")
    owner = importlib.import_module(module) if attribute != "ModelPatcher" else getattr(
        importlib.import_module(path), attribute)
    monkeypatch.delattr(owner, name)
    with pytest.raises(RuntimeError, match=r"cannot run on this ComfyUI .*lacks .*" + named) as error:
        pack.core.host.check_comfyui()
    lacked = str(error.value).split(" lacks ")[1].split(". The pack")[0]
    assert ";" not in lacked and "docs/compat.md" in str(error.value)  # only the one removed, and where to read


def test_an_attention_patch_signature_change_is_caught(comfy, pack, monkeypatch):
    import comfy.ldm.modules.attention as attention

    monkeypatch.setattr(attention, "optimized_attention", lambda q, k, v, heads, mask=None: q)
    with pytest.raises(RuntimeError, match=r"lacks attention patches"):
        pack.core.host.check_comfyui()


@pytest.mark.parametrize("base", [Exception, BaseException])
def test_the_interrupt_passes_through_the_pack_as_an_exception_or_a_base_exception(comfy, pack, monkeypatch, base):
    import comfy.model_management as mm

    interrupt = type("InterruptProcessingException", (base,), {})

    def throw():
        raise interrupt()

    monkeypatch.setattr(mm, "InterruptProcessingException", interrupt)
    monkeypatch.setattr(mm, "throw_exception_if_processing_interrupted", throw)
    pack.core.host.check_comfyui()
    with pytest.raises(interrupt), pack.core.host.progress(3) as bar:
        bar.update()


def test_a_throttled_progress_hook_loses_no_position_and_no_interrupt(comfy, pack):
    """Newer ComfyUI throttles the progress it sends: a hook that drops updates. Every update the pack sends is
    absolute (value, total), so whichever arrives is right, and the pack checks the interrupt itself on every
    update instead of relying on the hook."""
    import comfy.model_management as mm
    import comfy.utils

    arrived, previous = [], comfy.utils.PROGRESS_BAR_HOOK
    sent = 0

    def throttled(value, total, preview, node_id=None):
        nonlocal sent
        sent += 1
        if sent % 3 == 0:  # two updates of three dropped
            arrived.append((value, total))

    comfy.utils.set_progress_bar_global_hook(throttled)
    try:
        with pytest.raises(mm.InterruptProcessingException), pack.core.host.progress(10) as bar:
            for step in range(10):
                if step == 7:
                    mm.interrupt_current_processing(True)  # between two dropped updates
                bar.update()
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
        mm.interrupt_current_processing(False)
    assert arrived == [(3, 10), (6, 10)] and bar.current == 8  # stopped at the first update after the request
