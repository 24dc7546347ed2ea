"""The stream-to-disk resume key sees every model by content: another LoRA file of the same layout and strength, or a
checkpoint changed in one inner layer, is another run; an identity-locked run stopped and queued again in the same
process resumes, also when ComfyUI shares patch objects between clones (as ComfyUI does since early 2026)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import tiny_comfy
from tiny_comfy import inference_mode  # noqa: F401 (an autouse fixture: nodes run as the server runs them)

from longform_pack.core import manifest

FRAMES = 4
SETTINGS = dict(sampler_name="euler", scheduler="normal", steps=2, cfg=5.0, strength="0.6", seed=3,
                seed_mode="per frame", cross_frame_attention=True, color_match=True, shared_noise=0.5, fps=8.0)
LORA_MODULE = "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q"


@pytest.fixture(scope="module")
def models(comfy):
    torch.set_num_threads(1)
    return dict(model=tiny_comfy.model(), vae=tiny_comfy.vae(), positive=tiny_comfy.conditioning(FRAMES, 10),
                negative=tiny_comfy.conditioning(FRAMES, 11))


def first_frame(size: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)


def run_key(pack, model, vae, positive, negative) -> str:
    animate = pack.core.animate
    animator = animate.Animator(model, vae, positive, negative, first_frame(), animate.AnimateSettings(
        **{key: value for key, value in SETTINGS.items() if key not in ("sampler_name", "scheduler")}))
    return animate.run_key(animator, model, vae)


def lora_file(path, seed: int):
    """A kohya LoRA for one attention projection of the tiny UNet (32 channels, rank 4): same keys for every seed."""
    generator = torch.Generator().manual_seed(seed)
    save_file({f"{LORA_MODULE}.lora_up.weight": torch.randn(32, 4, generator=generator),
               f"{LORA_MODULE}.lora_down.weight": torch.randn(4, 32, generator=generator),
               f"{LORA_MODULE}.alpha": torch.tensor(4.0)}, str(path))
    return path


def test_another_lora_file_of_the_same_layout_and_strength_is_another_run(comfy, pack, models, tmp_path):
    import comfy.sd
    import comfy.utils

    keys = []
    for seed in (1, 1, 2):
        lora = comfy.utils.load_torch_file(str(lora_file(tmp_path / f"style_{seed}.safetensors", seed)))
        patched, _ = comfy.sd.load_lora_for_models(models["model"], None, lora, 0.8, 0.0)
        assert len(patched.patches) == 1  # the LoRA applies (a LoRA that applies nowhere would prove nothing)
        keys.append(run_key(pack, patched, models["vae"], models["positive"], models["negative"]))
    assert keys[0] == keys[1] != keys[2]


def test_a_checkpoint_changed_in_one_inner_layer_is_another_run(comfy, pack, models):
    changed = tiny_comfy.model()
    weights = list(changed.model.diffusion_model.state_dict(keep_vars=True).values())
    inner = weights[len(weights) // 2]  # neither the first nor the last tensor (the old key summed only those)
    with torch.no_grad():
        inner.view(-1)[0] += 1e-3
    keys = [run_key(pack, model, models["vae"], models["positive"], models["negative"])
            for model in (models["model"], tiny_comfy.model(), changed)]
    assert keys[0] == keys[1] != keys[2]


def test_a_changed_vae_or_controlnet_layer_is_another_run(comfy, pack, models):
    animate = pack.core.animate
    changed_vae = tiny_comfy.vae()  # a new load: weights are digested once per loaded module
    with torch.no_grad():
        list(changed_vae.first_stage_model.parameters())[5].view(-1)[0] += 1e-3
    keys = [run_key(pack, models["model"], vae, models["positive"], models["negative"])
            for vae in (models["vae"], tiny_comfy.vae(), changed_vae)]
    assert keys[0] == keys[1] != keys[2]

    def controlled(control_net):
        animator = animate.Animator(models["model"], models["vae"], models["positive"], models["negative"],
                                    first_frame(), animate.AnimateSettings(), control_net,
                                    np.zeros((1, 64, 64, 3), dtype=np.uint8))
        return animate.run_key(animator, models["model"], models["vae"])

    changed = tiny_comfy.control_net()
    with torch.no_grad():
        list(changed.control_model.parameters())[7].view(-1)[0] += 1e-3
    assert controlled(tiny_comfy.control_net()) == controlled(tiny_comfy.control_net()) != controlled(changed)


@pytest.fixture
def shared_patch_objects(monkeypatch):
    """ModelPatcher.clone as newer ComfyUI has it: the attention patch objects are shared with the clone (0.3.64
    deep-copies them), so a cache a patch fills while sampling shows on the input MODEL too."""
    import comfy.model_patcher

    original = comfy.model_patcher.ModelPatcher.clone

    def clone(self, *args, **kwargs):
        copy = original(self, *args, **kwargs)
        replace = self.model_options.get("transformer_options", {}).get("patches_replace", {})
        copy.model_options.setdefault("transformer_options", {})["patches_replace"] = {
            kind: dict(entries) for kind, entries in replace.items()}
        return copy

    monkeypatch.setattr(comfy.model_patcher.ModelPatcher, "clone", clone)


def test_an_identity_locked_run_stopped_then_queued_again_resumes(comfy, pack, shared_patch_objects, monkeypatch):
    video = pack.core.video
    model, clip, vae = comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)
    clip_vision = comfy.nodes.CLIPVisionLoader().load_clip(manifest.entry("clip_vision_h").tiny_filename)[0]
    reference = torch.rand(1, 48, 40, 3, generator=torch.Generator().manual_seed(7))
    locked = pack.NODE_CLASS_MAPPINGS["LF_IdentityLock"]().lock(
        model, reference, "longform-tiny-ip-adapter_sd15.safetensors", 1.0, 0.0, 1.0, clip_vision=clip_vision,
        insightface="none")[0]
    encode = comfy.nodes.CLIPTextEncode()
    arguments = dict(model=locked, vae=vae, positive=encode.encode(clip, "a character")[0],
                     negative=encode.encode(clip, "blurry")[0],
                     first_frame=torch.from_numpy(first_frame()).float()[None] / 255.0, frames=FRAMES,
                     mode="stream to disk", run_name="keys/locked", resume=True, preview_frames=2, **SETTINGS)
    node = pack.NODE_CLASS_MAPPINGS["LF_Animate"]()
    original_append = video.StreamingClip.append

    def append_then_stop(self, frame):
        original_append(self, frame)
        if self.written == 2:
            comfy.model_management.interrupt_current_processing(True)

    monkeypatch.setattr(video.StreamingClip, "append", append_then_stop)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            node.run(**arguments)
    finally:
        comfy.model_management.interrupt_current_processing(False)
        monkeypatch.setattr(video.StreamingClip, "append", original_append)
    lock = next(iter(locked.model_options["transformer_options"]["patches_replace"]["attn2"].values())).lock
    assert lock._tokens, "the lock's token cache did not fill on the input MODEL: the shared-patch case is not tested"
    frames = Path(comfy.folder_paths.get_output_directory()) / "keys" / "locked" / "frames"
    made_before = {path.name: path.stat().st_mtime_ns for path in frames.glob("*.png")}
    assert len(made_before) == 2
    result = node.run(**arguments)  # queued again: resumes (another key would be refused as another run)
    assert result["result"][1].endswith("keys/locked/locked.mp4")
    assert sorted(path.name for path in frames.glob("*.png")) == [f"frame_{index:06d}.png" for index in range(FRAMES)]
    assert all((frames / name).stat().st_mtime_ns == made for name, made in made_before.items())  # kept, not redone
