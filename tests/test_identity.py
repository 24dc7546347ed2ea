"""The identity lock on the tiny SD 1.5 + IP-Adapter + CLIP vision + insightface stand-ins."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from longform_pack.core import faces, host, images, tiny
from longform_pack.core import identity as idn
from longform_pack.core import stylize as st
from longform_pack.nodes import identity as nodes

CHECKPOINT = "longform-tiny-sd15.safetensors"
CONTROLNET = "longform-tiny-controlnet-scribble.safetensors"
BASE = "longform-tiny-ip-adapter_sd15.safetensors"
PLUS = "longform-tiny-ip-adapter-plus_sd15.safetensors"
FACEID = "longform-tiny-ip-adapter-faceid_sd15.bin"
CLIP_VISION = "longform-tiny-clip-vision.safetensors"
FACE_PACK = "models/longform_tiny"
PROBE_CLIP = "longform-tiny-clip.safetensors"


def face_picture(size: int = 96, skin=(225, 180, 150), background=(60, 80, 160)) -> torch.Tensor:
    """A cartoon face (skin-coloured oval with eyes) on a blue background: what the tiny detector fires on."""
    picture = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((size // 4, size // 6, 3 * size // 4, 5 * size // 6), fill=skin)
    for x in (size * 3 // 8, size * 9 // 16):
        draw.ellipse((x, size * 3 // 8, x + size // 16, size * 7 // 16), fill=(40, 30, 30))
    return images.from_pil(picture)


@pytest.fixture(scope="module")
def scribble() -> torch.Tensor:
    """A head-and-shoulders outline in white on black, 64x64."""
    picture = Image.new("RGB", (64, 64), "black")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((20, 8, 44, 36), outline="white", width=2)
    draw.arc((8, 36, 56, 80), 180, 360, fill="white", width=2)
    return images.from_pil(picture)


@pytest.fixture(scope="module")
def pipeline(tiny_models_dir):
    return st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler")


@pytest.fixture(scope="module")
def references() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return torch.rand(1, 48, 40, 3, generator=generator), torch.rand(1, 48, 40, 3, generator=generator)


def render(pipeline, scribble, seed: int = 1) -> torch.Tensor:
    return st.stylize(pipeline, scribble, "a character", "blurry", seed=seed, steps=2, width=64, height=64)


def lock(pipeline, adapter, reference, weight=1.0, **kwargs):
    kwargs.setdefault("clip_vision_name", CLIP_VISION)
    made = idn.prepare_identity(pipeline.pipe.unet, adapter, reference, weight, **kwargs)
    return idn.lock_pipeline(pipeline, made)


def test_weight_zero_is_the_bare_pipeline_and_nothing_leaks(pipeline, scribble, references):
    bare = render(pipeline, scribble)
    zero = lock(pipeline, BASE, references[0], weight=0.0)
    assert zero is pipeline
    assert torch.equal(render(zero, scribble), bare)
    locked = render(lock(pipeline, BASE, references[0]), scribble)
    assert not torch.allclose(locked, bare, atol=1e-4)
    # The shared pipe is exactly as before: same image, no projection or IP processor left behind.
    assert torch.equal(render(pipeline, scribble), bare)
    assert pipeline.pipe.unet.encoder_hid_proj is None
    assert not any("IPAdapter" in type(p).__name__ for p in pipeline.pipe.unet.attn_processors.values())


def test_output_changes_with_reference_and_repeats_with_same_seed(pipeline, scribble, references):
    first = render(lock(pipeline, BASE, references[0]), scribble)
    again = render(lock(pipeline, BASE, references[0]), scribble)
    other = render(lock(pipeline, BASE, references[1]), scribble)
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3


def test_plus_variant_detected_from_shapes_not_name(tiny_models_dir, pipeline, scribble, references):
    renamed = tiny_models_dir / "ipadapter" / "ip-adapter_sd15_but_really_plus.safetensors"
    shutil.copy(tiny_models_dir / "ipadapter" / PLUS, renamed)
    made = idn.prepare_identity(pipeline.pipe.unet, renamed.name, references[0], 1.0, clip_vision_name=CLIP_VISION)
    assert made.variant == "plus"
    assert made.positive.shape[1:] == made.negative.shape[1:]
    assert idn.read_adapter(BASE).variant == "base"
    plus = render(idn.lock_pipeline(pipeline, made), scribble)
    assert not torch.allclose(plus, render(pipeline, scribble), atol=1e-4)


def test_start_end_window(pipeline, scribble, references):
    full = render(lock(pipeline, BASE, references[0]), scribble)
    late = render(lock(pipeline, BASE, references[0], start=0.5, end=1.0), scribble)
    bare = render(pipeline, scribble)
    assert not torch.allclose(late, full, atol=1e-4)
    assert not torch.allclose(late, bare, atol=1e-4)
    # With 2 steps at fractions 0 and 1/2, a window from 0.9 covers none: the adapter never acts.
    never = render(lock(pipeline, FACEID, face_picture(), start=0.9, end=1.0, insightface_pack=FACE_PACK), scribble)
    assert torch.equal(never, bare)
    timesteps = torch.tensor([999, 666, 333, 0])
    assert [idn.step_fraction(timesteps, t) for t in timesteps] == [0.0, 0.25, 0.5, 0.75]


def test_faceid_runs_through_onnxruntime(pipeline, scribble):
    reference = face_picture()
    analyzer = faces.load_analyzer(FACE_PACK)
    sessions = [model.session for model in analyzer.models.values()]
    assert {type(s).__mro__[1].__module__.split(".")[0] for s in sessions} == {"onnxruntime"}
    assert all(s.get_providers()[0] == faces.providers()[0] for s in sessions)
    found = faces.analyse(faces.to_uint8(reference, "reference")[0], FACE_PACK)
    assert found is not None and found.embedding.shape == (512,)
    assert abs(float(np.linalg.norm(found.embedding)) - 1.0) < 1e-4
    locked = lock(pipeline, FACEID, reference, insightface_pack=FACE_PACK)
    assert locked.lock.variant == "faceid" and locked.lock.adapter.lora  # FaceID's LoRA is read too
    face_image = render(locked, scribble)
    assert not torch.allclose(face_image, render(pipeline, scribble), atol=1e-4)
    assert torch.equal(render(locked, scribble), face_image)


def test_largest_face_is_used():
    class Box:
        def __init__(self, box):
            self.bbox = np.array(box, dtype=np.float32)

    small, large = Box([0, 0, 10, 10]), Box([20, 20, 45, 40])
    assert faces.largest_face([small, large, Box([5, 5, 12, 12])]) is large
    assert faces.largest_face([]) is None


def test_errors_are_clear(tiny_models_dir, pipeline, references):
    unet = pipeline.pipe.unet
    with pytest.raises(ValueError, match="No face found.*non-FaceID"):
        idn.prepare_identity(unet, FACEID, torch.full((1, 64, 64, 3), 0.3), 1.0, insightface_pack=FACE_PACK)
    with pytest.raises(ValueError, match="'reference' must be an IMAGE"):
        idn.prepare_identity(unet, BASE, "face.png", 1.0, clip_vision_name=CLIP_VISION)
    with pytest.raises(ValueError, match="'reference'"):
        idn.prepare_identity(unet, BASE, torch.rand(64, 64, 3), 1.0, clip_vision_name=CLIP_VISION)
    with pytest.raises(FileNotFoundError, match="clip_vision_h"):
        idn.prepare_identity(unet, BASE, references[0], 1.0, clip_vision_name="CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    with pytest.raises(ValueError, match="start"):
        idn.prepare_identity(unet, BASE, references[0], 1.0, start=0.8, end=0.2, clip_vision_name=CLIP_VISION)
    # An SDXL IP-Adapter (2048-wide cross-attention, 1280-d ViT-bigG embeddings) is refused by its shapes.
    from safetensors.torch import save_file

    sdxl = {"image_proj.proj.weight": torch.zeros(4 * 2048, 1280), "image_proj.proj.bias": torch.zeros(4 * 2048),
            "image_proj.norm.weight": torch.ones(2048), "image_proj.norm.bias": torch.zeros(2048),
            "ip_adapter.1.to_k_ip.weight": torch.zeros(640, 2048), "ip_adapter.1.to_v_ip.weight": torch.zeros(640, 2048)}
    save_file(sdxl, str(tiny_models_dir / "ipadapter" / "ip-adapter_sdxl.safetensors"))
    with pytest.raises(ValueError, match="SDXL"):
        idn.prepare_identity(unet, "ip-adapter_sdxl.safetensors", references[0], 1.0, clip_vision_name=CLIP_VISION)
    with pytest.raises(ValueError, match="must be an LF_PIPELINE"):
        idn.lock_identity(pipeline.pipe, BASE, references[0], clip_vision_name=CLIP_VISION)
    with pytest.raises(ValueError, match="already has an identity lock"):
        once = lock(pipeline, BASE, references[0])
        idn.lock_pipeline(once, once.lock)


def test_identity_score_self_one_other_lower_order_kept(tiny_models_dir, references):
    a, b = face_picture(), face_picture(skin=(200, 150, 120), background=(20, 120, 60))
    frames = torch.cat([a, b, torch.rand(1, 96, 96, 3, generator=torch.Generator().manual_seed(3)), a])
    scores = idn.identity_scores(frames, a, clip_vision_name=CLIP_VISION, insightface_pack=FACE_PACK)
    assert scores.clip[0] == pytest.approx(1.0, abs=1e-5) and scores.clip[3] == pytest.approx(1.0, abs=1e-5)
    assert max(scores.clip[1], scores.clip[2]) < 0.999
    assert scores.face[0] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(scores.face[2])  # the noise frame has no face: left out, counted
    assert scores.faces_missing == 1 and "1 frames without a face" in scores.summary()
    reversed_scores = idn.identity_scores(frames.flip(0), a, clip_vision_name=CLIP_VISION)
    assert reversed_scores.clip == pytest.approx(scores.clip[::-1], abs=1e-6)
    probe = idn.identity_scores(frames, a, probe_encoder=PROBE_CLIP)
    assert probe.clip[0] == pytest.approx(1.0, abs=1e-5) and probe.clip[1] < 0.999
    plot = idn.plot_scores(scores)
    assert plot.ndim == 4 and plot.shape[0] == 1 and plot.shape[-1] == 3
    with pytest.raises(ValueError, match="No face found.*face pack to none"):
        idn.identity_scores(frames, torch.full((1, 64, 64, 3), 0.3), CLIP_VISION, insightface_pack=FACE_PACK)
    with pytest.raises(ValueError, match="exactly one image encoder"):
        idn.identity_scores(frames, a)


def test_nodes(tiny_models_dir, pipeline, scribble, references):
    for node in (nodes.LF_IdentityLock, nodes.LF_IdentityScore):
        assert node.DESCRIPTION and node.CATEGORY == "LongForm/identity"
        for spec in node.INPUT_TYPES()["required"].values():
            assert spec[1]["tooltip"]
    choices = nodes.LF_IdentityLock.INPUT_TYPES()["required"]
    assert BASE in choices["ipadapter"][0] and FACE_PACK in choices["insightface"][0]
    assert "ip-adapter_sd15.safetensors" in choices["ipadapter"][0]  # missing manifest file: listed, errors by name
    locked, info = nodes.LF_IdentityLock().lock(pipeline, references[0], PLUS, 0.7, 0.0, 1.0, CLIP_VISION, FACE_PACK)
    assert isinstance(locked, st.StylizePipeline) and "plus" in info
    from longform_pack.nodes.stylize import LF_Stylize

    def stylize_node(target):
        return LF_Stylize().render(target, scribble, "a character", "", 1, 2, 7.5, 1.0, 0.0, 1.0, 64, 64, False)[0]

    assert not torch.allclose(stylize_node(locked), stylize_node(pipeline), atol=1e-4)
    frames = torch.cat([references[0], references[1]])
    plot, summary, mean, low = nodes.LF_IdentityScore().score(frames, references[0], f"clip_vision/{CLIP_VISION}", "none")
    assert plot.shape[0] == 1 and "CLIP identity" in summary
    assert low < mean < 1.0


def test_full_size_layouts_match_the_published_files():
    """Meta-device checks of the real architectures: no weights needed."""
    import json

    from accelerate import init_empty_weights
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = json.loads((st.ASSETS_DIR / "sd15" / "unet" / "config.json").read_text())
    layout = idn.attention_layout({k: v for k, v in config.items() if not k.startswith("_")})
    cross = [index for index, _, width in layout if width is not None]
    assert len(layout) == 32 and cross == list(range(1, 32, 2))  # ip_adapter.1 ... ip_adapter.31, as published
    assert {width for _, _, width in layout if width is not None} == {768}
    vit_h = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
             "image_size": 224, "patch_size": 14, "projection_dim": 1024, "hidden_act": "gelu"}
    with init_empty_weights():
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**vit_h))
    assert idn.clip_vision_config(model.state_dict(), {}) == vit_h
