"""The Wan 2.2 TI2V 5B template on the tiny Wan through ComfyUI's real node classes (UNETLoader, ModelSamplingSD3,
VAELoader, LoadImage, Wan22ImageToVideoLatent, KSampler, VAEDecode, SaveImage), and how a start image of several
frames continues a video.

Only the text encoding is replaced, by the test-only LFTest_WanTextEncode (tests/comfy_test_nodes): ComfyUI builds
Wan's umt5-xxl at 5.7 B parameters whatever its file holds, so it cannot be tiny.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from comfy_test_nodes import NODE_CLASS_MAPPINGS as TEST_NODES
from comfy_test_nodes import wan_test_conditioning
from PIL import Image
from tiny_comfy import inference_mode  # noqa: F401 (an autouse fixture: nodes run as the server runs them)
from tiny_comfy import run_prompt
from tiny_profile import TINY_SAMPLER_STEPS, TINY_SIZE, TINY_VIDEO_FRAMES, tiny_profile

from longform_pack.core import manifest

TEMPLATE = json.loads((Path(__file__).resolve().parents[2] / "workflows/templates/wan22_ti2v.json").read_text())
TEMPORAL_COMPRESSION = 4  # Wan's VAE: the first frame alone, then 4 frames per latent frame


@pytest.fixture(scope="module")
def wan_nodes(comfy):
    """The node classes the template uses: ComfyUI's (core and comfy_extras, V1 and V3) and the test text encoder."""
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3
    from comfy_extras.nodes_wan import Wan22ImageToVideoLatent

    return {**comfy.nodes.NODE_CLASS_MAPPINGS, "ModelSamplingSD3": ModelSamplingSD3,
            "Wan22ImageToVideoLatent": Wan22ImageToVideoLatent, **TEST_NODES}


@pytest.fixture(scope="module")
def wan(comfy, wan_nodes):
    """The tiny Wan MODEL (shift 8, as the template) and the Wan 2.2 VAE, loaded by ComfyUI's loaders."""
    (model,) = comfy.nodes.UNETLoader().load_unet(manifest.entry("wan22_ti2v_5b").tiny_filename, "default")
    (model,) = wan_nodes["ModelSamplingSD3"]().patch(model, 8.0)
    (vae,) = comfy.nodes.VAELoader().load_vae(manifest.entry("wan22_vae").tiny_filename)
    return model, vae


def _latent(wan_nodes, vae, start_image, length=TINY_VIDEO_FRAMES):
    node = wan_nodes["Wan22ImageToVideoLatent"]
    return node.execute(vae=vae, width=TINY_SIZE, height=TINY_SIZE, length=length, batch_size=1,
                        start_image=start_image).result[0]


def _sample(comfy, model, latent, seed, prompt="a lighthouse at dusk"):
    (sampled,) = comfy.nodes.KSampler().sample(model, seed, TINY_SAMPLER_STEPS, 5.0, "uni_pc", "simple",
                                               wan_test_conditioning(prompt), wan_test_conditioning("blurry"), latent)
    return sampled


def test_the_templates_nodes_and_inputs_are_comfyuis(wan_nodes):
    # Real model files are not here: their names are choices only in the tiny profile, which names the tiny files.
    for prompt, real_files in ((TEMPLATE, True), (tiny_profile(TEMPLATE), False)):
        for node_id, node in prompt.items():
            spec = wan_nodes[node["class_type"]].INPUT_TYPES()
            declared = {**spec.get("required", {}), **spec.get("optional", {})}
            assert set(node["inputs"]) <= set(declared), (node_id, set(node["inputs"]) - set(declared))
            for name, value in node["inputs"].items():
                choices = declared[name][0]
                if isinstance(choices, list) and name != "image" and not (real_files and name.endswith("_name")):
                    assert value in choices, (node_id, name, value)


def test_the_template_on_the_tiny_profile_renders_nine_frames_through_core_nodes(comfy, wan_nodes):
    prompt = tiny_profile(TEMPLATE)
    start = next(node for node in prompt.values() if node["class_type"] == "LoadImage")
    start["inputs"]["image"] = "wan_start.png"
    Image.fromarray(np.full((TINY_SIZE, TINY_SIZE, 3), (200, 120, 40), np.uint8)).save(comfy.base / "input" /
                                                                                         "wan_start.png")
    outputs = run_prompt(prompt, wan_nodes)
    frames = next(outputs[node_id][0] for node_id, node in prompt.items() if node["class_type"] == "VAEDecode")
    assert frames.shape == (TINY_VIDEO_FRAMES, TINY_SIZE, TINY_SIZE, 3)
    assert torch.isfinite(frames).all() and frames.std() > 0
    saved = sorted((comfy.base / "output" / "LongForm").glob("wan22_ti2v_*.png"))
    assert len(saved) == TINY_VIDEO_FRAMES


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 9])
def test_a_start_image_of_k_frames_pins_one_latent_frame_per_4_frames_after_the_first(comfy, wan, wan_nodes, frames):
    # Wan22ImageToVideoLatent encodes start_image[:length] and masks the latent frames it fills. Wan's VAE turns K
    # frames into 1 + (K - 1) // 4 latent frames: only K = 1, 5, 9, ... are kept whole; the rest are cut back.
    _, vae = wan
    latent = _latent(wan_nodes, vae, torch.rand(frames, TINY_SIZE, TINY_SIZE, 3, generator=torch.Generator()
                                                .manual_seed(frames)))
    pinned = 1 + (frames - 1) // TEMPORAL_COMPRESSION
    latent_frames = 1 + (TINY_VIDEO_FRAMES - 1) // TEMPORAL_COMPRESSION
    assert latent["samples"].shape == (1, 48, latent_frames, TINY_SIZE // 16, TINY_SIZE // 16)
    assert latent["noise_mask"][0, 0, :, 0, 0].tolist() == [0.0] * pinned + [1.0] * (latent_frames - pinned)


def test_the_first_k_frames_of_a_k_frame_start_stay_whatever_the_seed_and_prompt(comfy, wan, wan_nodes):
    model, vae = wan
    frames = 1 + TEMPORAL_COMPRESSION  # 5: two latent frames, both pinned
    start = torch.rand(frames, TINY_SIZE, TINY_SIZE, 3, generator=torch.Generator().manual_seed(7))
    latent = _latent(wan_nodes, vae, start)
    first = _sample(comfy, model, latent, seed=1)
    second = _sample(comfy, model, latent, seed=2, prompt="a stormy night")
    # The sampler keeps the masked latent frames (up to the model's fp16 rounding); the free one follows the seed.
    assert (first["samples"][:, :, :2] - latent["samples"][:, :, :2]).abs().max() < 1e-2
    assert (first["samples"][:, :, 2:] - second["samples"][:, :, 2:]).abs().max() > 0.1
    (video_one,) = comfy.nodes.VAEDecode().decode(vae, first)
    (video_two,) = comfy.nodes.VAEDecode().decode(vae, second)
    per_frame = (video_one - video_two).abs().flatten(1).amax(1)
    # Wan's VAE decodes causally in time, so the first K output frames come from the pinned latents alone.
    assert per_frame[:frames].max() < 0.02, per_frame
    assert per_frame[frames:].min() > 0.05, per_frame


def test_a_prompt_change_changes_the_video(comfy, wan, wan_nodes):
    model, vae = wan
    latent = _latent(wan_nodes, vae, torch.full((1, TINY_SIZE, TINY_SIZE, 3), 0.5))
    sunny = _sample(comfy, model, latent, seed=3, prompt="sunny forest")
    stormy = _sample(comfy, model, latent, seed=3, prompt="stormy night")
    again = _sample(comfy, model, latent, seed=3, prompt="sunny forest")
    assert torch.equal(sunny["samples"], again["samples"])  # so any difference below is the prompt's
    assert (sunny["samples"][:, :, 1:] - stormy["samples"][:, :, 1:]).abs().max() > 1e-3


def _frames(seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8) for _ in range(count)]


def _write(path: Path, frames: list[np.ndarray], **options) -> str:
    pictures = [Image.fromarray(frame) for frame in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], **options)
    return path.name


@pytest.mark.parametrize("suffix, options", [(".png", {}), (".webp", {"lossless": True})], ids=["apng", "webp"])
def test_core_loadimage_reads_a_lossless_animation_as_one_image_batch(comfy, suffix, options):
    frames = _frames(11, 5)
    name = _write(comfy.base / "input" / f"tail{suffix}", frames, **options)
    image, mask = comfy.nodes.LoadImage().load_image(name)
    assert image.shape == (5, TINY_SIZE, TINY_SIZE, 3) and mask.shape[0] == 5
    assert torch.equal((image * 255).round().to(torch.uint8), torch.from_numpy(np.stack(frames)))


def test_repeated_frames_survive_only_in_an_apng_written_without_durations(comfy):
    # Pillow merges equal consecutive frames into one longer frame in animated WebP always, and in APNG when frames
    # carry a duration: a still tail would come back shorter. An APNG written without `duration` keeps every frame.
    frames = _frames(12, 1) * 3 + _frames(13, 2)
    expected = torch.from_numpy(np.stack(frames))
    kept = _write(comfy.base / "input" / "still_tail.png", frames)
    timed = _write(comfy.base / "input" / "still_tail_timed.png", frames, duration=42)
    webp = _write(comfy.base / "input" / "still_tail.webp", frames, lossless=True)
    image, _ = comfy.nodes.LoadImage().load_image(kept)
    assert torch.equal((image * 255).round().to(torch.uint8), expected)
    assert comfy.nodes.LoadImage().load_image(timed)[0].shape[0] == 3
    assert comfy.nodes.LoadImage().load_image(webp)[0].shape[0] == 3
