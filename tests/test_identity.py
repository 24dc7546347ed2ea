"""The identity lock's maths and files without ComfyUI (tests/native/test_identity.py runs it in ComfyUI), the
identity score, and the faces on the tiny insightface pack."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from longform_pack.core import faces, images, ipadapter
from longform_pack.core.identity_score import cosine_to_reference, embedder, identity_scores, plot_scores
from longform_pack.core.tiny import identity as tiny_identity
from longform_pack.nodes import identity as nodes

BASE = "longform-tiny-ip-adapter_sd15.safetensors"
PLUS = "longform-tiny-ip-adapter-plus_sd15.safetensors"
FACEID = "longform-tiny-ip-adapter-faceid_sd15.bin"
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


def adapter(tiny_models_dir, name: str) -> ipadapter.AdapterFile:
    return ipadapter.read_adapter(tiny_models_dir / "ipadapter" / name)


def naive_attention(q, k, v, heads):
    """Multi-head attention written out: per batch item and head, softmax(q k^T / sqrt(d)) v."""
    batch, _, width = q.shape
    d = width // heads
    out = torch.zeros_like(q)
    for b in range(batch):
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            scores = q[b, :, cols] @ k[b, :, cols].T / d**0.5
            out[b, :, cols] = torch.softmax(scores, dim=-1) @ v[b, :, cols]
    return out


def test_ip_attention_against_a_written_out_computation(tiny_models_dir):
    """Text attention + weight x attention over the reference's tokens; the unconditional chunk of the batch gets the
    unconditional tokens and the conditional chunk the reference's (swapping them fails here)."""
    file = adapter(tiny_models_dir, BASE)
    model = ipadapter.IPAdapterModel(file)
    generator = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(2, 1024, generator=generator), torch.zeros(2, 1024)  # two references
    lock = ipadapter.IdentityConditioning(model, cond, uncond, weight=0.7, sigma_start=10.0, sigma_end=1.0)
    layer = ipadapter.IPAttention(lock, 3, ipadapter.scaled_attention)
    heads, hidden = 8, 640
    q = torch.randn(4, 16, hidden, generator=generator)  # [uncond x2, cond x2]
    k, v = torch.randn(4, 77, hidden, generator=generator), torch.randn(4, 77, hidden, generator=generator)
    options = {"n_heads": heads, "cond_or_uncond": [1, 0], "sigmas": torch.tensor([5.0] * 4)}
    out = layer(q, k, v, options)

    def tokens(features):  # the base projection written out: Linear, reshape to 4 tokens, LayerNorm; references side by side
        state = file.image_proj
        x = (features @ state["proj.weight"].T + state["proj.bias"]).reshape(-1, 4, 768)
        x = torch.nn.functional.layer_norm(x, (768,), state["norm.weight"], state["norm.bias"])
        return x.reshape(1, 8, 768)

    expected = naive_attention(q, k, v, heads)
    for rows, features in ((slice(0, 2), uncond), (slice(2, 4), cond)):
        t = tokens(features).expand(2, -1, -1)
        k_ip, v_ip = t @ file.ip_layers["3.to_k_ip.weight"].T, t @ file.ip_layers["3.to_v_ip.weight"].T
        expected[rows] += 0.7 * naive_attention(q[rows], k_ip, v_ip, heads)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    # Outside the sigma window the layer is exactly its text attention.
    outside = layer(q, k, v, {**options, "sigmas": torch.tensor([0.5] * 4)})
    assert torch.equal(outside, ipadapter.scaled_attention(q, k, v, heads, {}))


def test_projections_equal_diffusers(tiny_models_dir):
    """Our image projections against diffusers' own IP-Adapter projection classes loaded from the same files."""
    from diffusers import UNet2DConditionModel

    generator = torch.Generator().manual_seed(1)
    inputs = {"base": torch.randn(2, 1024, generator=generator), "plus": torch.randn(2, 9, 1280, generator=generator),
              "faceid": torch.randn(2, 512, generator=generator)}
    for name in (BASE, PLUS, FACEID):
        file = adapter(tiny_models_dir, name)
        ours = ipadapter.build_projection(file.variant, file.image_proj)
        theirs = UNet2DConditionModel._convert_ip_adapter_image_proj_to_diffusers(None, dict(file.image_proj),
                                                                                  low_cpu_mem_usage=False)
        features = inputs[file.variant]
        with torch.no_grad():
            torch.testing.assert_close(ours(features), theirs(features), atol=1e-5, rtol=1e-4)


def test_variant_from_shapes_not_name_and_lora_keys(tiny_models_dir):
    renamed = tiny_models_dir / "ipadapter" / "ip-adapter_sd15_but_really_plus.safetensors"
    shutil.copy(tiny_models_dir / "ipadapter" / PLUS, renamed)
    assert ipadapter.read_adapter(renamed).variant == "plus"
    assert adapter(tiny_models_dir, BASE).variant == "base"
    faceid = adapter(tiny_models_dir, FACEID)
    assert faceid.variant == "faceid" and faceid.input_width == 512
    assert faceid.layer_numbers == [k for k, _, _ in ipadapter.layout_from_config(tiny_identity.TINY_UNET_CONFIG)]
    with pytest.raises(ValueError, match="not an IP-Adapter file"):
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(1)}, str(tiny_models_dir / "ipadapter" / "not_an_adapter.safetensors"))
        ipadapter.read_adapter(tiny_models_dir / "ipadapter" / "not_an_adapter.safetensors")


def test_layout_from_config_is_diffusers_processor_order():
    """Full-size SD 1.5: 16 cross-attentions numbered 1..31 as the published files (diffusers' attn_processors order,
    built on the meta device from the bundled SD 1.5 config)."""
    import json

    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    from longform_pack.core import encoders

    config = json.loads((encoders.ASSETS / "sd15" / "unet" / "config.json").read_text())
    with init_empty_weights():
        unet = UNet2DConditionModel(**{k: v for k, v in config.items() if not k.startswith("_")})
    diffusers_order = []
    for index, name in enumerate(unet.attn_processors):
        if name.endswith("attn2.processor"):
            attention = unet.get_submodule(name.removesuffix(".processor"))
            diffusers_order.append((index, attention.to_q.out_features, attention.to_k.in_features))
    sd15 = {"model_channels": 320, "channel_mult": [1, 2, 4, 4], "num_res_blocks": 2, "context_dim": 768,
            "attention_resolutions": [4, 2, 1]}
    assert ipadapter.layout_from_config(sd15) == diffusers_order
    assert [k for k, _, _ in diffusers_order] == list(range(1, 32, 2))


def test_adapter_fit_errors(tiny_models_dir):
    file = adapter(tiny_models_dir, BASE)
    layers = [ipadapter.Attn2Layer("input", 1, 0, "input_blocks.1.1.transformer_blocks.0", hidden, 2048, n)
              for n, (_, hidden, _) in enumerate(ipadapter.layout_from_config(tiny_identity.TINY_UNET_CONFIG))]
    with pytest.raises(ValueError, match="made for another base model"):
        ipadapter.check_adapter_fits(file, layers)
    sdxl = ipadapter.AdapterFile("ip-adapter_sdxl.safetensors", "base", {"norm.weight": torch.ones(2048),
                                 "proj.weight": torch.zeros(4 * 2048, 1280)},
                                 {"1.to_k_ip.weight": torch.zeros(640, 2048)}, {})
    with pytest.raises(ValueError, match="SDXL"):
        ipadapter.check_adapter_fits(sdxl, [ipadapter.Attn2Layer("input", 1, 0, "p", 320, 768, 0)])
    with pytest.raises(ValueError, match="FaceID Plus"):
        ipadapter.detect_variant({"perceiver_resampler.proj_in.weight": torch.zeros(1)}, "faceid-plus.bin")


def test_multi_reference_score_is_normalised():
    """Every reference counts the same whatever its norm, and a frame along the references' mean direction scores 1:
    against an independent numpy computation."""
    generator = torch.Generator().manual_seed(2)
    references = torch.randn(3, 16, generator=generator) * torch.tensor([[1.0], [10.0], [0.1]])
    frames = torch.randn(5, 16, generator=generator)
    unit = references.numpy() / np.linalg.norm(references.numpy(), axis=1, keepdims=True)
    direction = unit.mean(0) / np.linalg.norm(unit.mean(0))
    expected = frames.numpy() @ direction / np.linalg.norm(frames.numpy(), axis=1)
    assert cosine_to_reference(frames, references) == pytest.approx(expected.tolist(), abs=1e-6)
    along = torch.from_numpy(direction)[None] * 3.0
    assert cosine_to_reference(along, references)[0] == pytest.approx(1.0, abs=1e-6)
    rescaled = references * torch.tensor([[5.0], [0.2], [7.0]])
    assert cosine_to_reference(frames, rescaled) == pytest.approx(cosine_to_reference(frames, references), abs=1e-6)


def test_identity_score_with_the_probe_encoder_and_faces(tiny_models_dir):
    a, b = face_picture(), face_picture(skin=(200, 150, 120), background=(20, 120, 60))
    frames = torch.cat([a, b, torch.rand(1, 96, 96, 3, generator=torch.Generator().manual_seed(3)), a])
    embed = embedder(probe_encoder=PROBE_CLIP)
    scores = identity_scores(frames, a, embed, insightface_pack=FACE_PACK)
    assert scores.clip[0] == pytest.approx(1.0, abs=1e-5) and scores.clip[3] == pytest.approx(1.0, abs=1e-5)
    assert max(scores.clip[1], scores.clip[2]) < 0.999
    assert scores.face[0] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(scores.face[2])  # the noise frame has no face: left out, counted
    assert scores.faces_missing == 1 and "1 frames without a face" in scores.summary()
    assert scores.summary().endswith("faces: insightface on onnxruntime CPUExecutionProvider")
    assert identity_scores(frames.flip(0), a, embed).clip == pytest.approx(scores.clip[::-1], abs=1e-6)
    plot = plot_scores(scores)
    assert plot.ndim == 4 and plot.shape[0] == 1 and plot.shape[-1] == 3
    with pytest.raises(ValueError, match="No face found.*face pack to none"):
        identity_scores(frames, torch.full((1, 64, 64, 3), 0.3), embed, insightface_pack=FACE_PACK)
    with pytest.raises(ValueError, match="exactly one image encoder"):
        embedder()
    with pytest.raises(ValueError, match="must be a CLIP_VISION"):
        embedder(clip_vision="CLIP-ViT-H-14.safetensors")


def test_faces_run_on_onnxruntime_cpu_outside_comfyui(tiny_models_dir):
    assert faces.providers() == ["CPUExecutionProvider"]  # no GPU device here
    analyzer = faces.load_analyzer(FACE_PACK)
    sessions = [model.session for model in analyzer.models.values()]
    assert {type(s).__mro__[1].__module__.split(".")[0] for s in sessions} == {"onnxruntime"}
    assert all(s.get_providers()[0] == "CPUExecutionProvider" for s in sessions)
    found = faces.analyse(faces.to_uint8(face_picture(), "reference")[0], FACE_PACK)
    assert found is not None and found.embedding.shape == (512,)
    assert abs(float(np.linalg.norm(found.embedding)) - 1.0) < 1e-4


def test_a_gpu_comfyui_whose_faces_ran_on_the_cpu_gets_a_warning_saying_what_to_do(tiny_models_dir, monkeypatch,
                                                                                   caplog):
    faces.load_analyzer(FACE_PACK)
    assert faces.provider_report(FACE_PACK) == "faces: insightface on onnxruntime CPUExecutionProvider"
    monkeypatch.setattr(faces.host, "torch_device", lambda: torch.device("cuda"))
    line, warning = faces.provider_report(FACE_PACK).split("\n")
    assert line == "faces: insightface on onnxruntime CPUExecutionProvider"
    assert warning.startswith("WARNING: ComfyUI runs on CUDA but FaceID ran on the CPU")
    assert "pip install onnxruntime-gpu" in warning and "restart ComfyUI" in warning
    assert warning in caplog.text


def test_largest_face_is_used():
    class Box:
        def __init__(self, box):
            self.bbox = np.array(box, dtype=np.float32)

    small, large = Box([0, 0, 10, 10]), Box([20, 20, 45, 40])
    assert faces.largest_face([small, large, Box([5, 5, 12, 12])]) is large
    assert faces.largest_face([]) is None


def test_nodes_inputs(tiny_models_dir):
    lock_inputs = nodes.LF_IdentityLock.INPUT_TYPES()
    assert lock_inputs["required"]["model"][0] == "MODEL" and lock_inputs["optional"]["clip_vision"][0] == "CLIP_VISION"
    assert BASE in lock_inputs["required"]["ipadapter"][0] and FACE_PACK in lock_inputs["optional"]["insightface"][0]
    assert "ip-adapter_sd15.safetensors" in lock_inputs["required"]["ipadapter"][0]  # missing manifest file: listed
    assert nodes.LF_IdentityLock.RETURN_TYPES == ("MODEL", "STRING")
    score_inputs = nodes.LF_IdentityScore.INPUT_TYPES()
    assert score_inputs["required"]["encoder"][0][0] == nodes.USE_CLIP_VISION
    assert PROBE_CLIP in score_inputs["required"]["encoder"][0]
    frames = torch.cat([face_picture(), face_picture(skin=(200, 150, 120))])
    plot, summary, mean, low = nodes.LF_IdentityScore().score(frames, frames[:1], PROBE_CLIP, "none")
    assert plot.shape[0] == 1 and "CLIP identity" in summary and low < mean < 1.0


def test_nodes_validate_inputs(tiny_models_dir):
    validate = nodes.LF_IdentityLock.VALIDATE_INPUTS
    assert validate(0.8, 0.0, 1.0, BASE, "none") is True
    assert "'weight'" in validate(float("nan"), 0.0, 1.0, BASE, "none")
    assert "'end_at'" in validate(0.8, 0.0, 1.5, BASE, "none")
    assert "'ipadapter'" in validate(0.8, 0.0, 1.0, "../../secrets.safetensors", "none")
    assert nodes.LF_IdentityScore.VALIDATE_INPUTS(nodes.USE_CLIP_VISION, "none") is True
    assert "'face_pack'" in nodes.LF_IdentityScore.VALIDATE_INPUTS(nodes.USE_CLIP_VISION, "/etc")
    from longform_pack.core.identity import lock_identity

    with pytest.raises(ValueError, match="'weight'.*NaN"):
        lock_identity(object(), BASE, face_picture(), float("nan"))


def test_truncated_adapter_file_is_refused_by_the_checked_reader(tiny_models_dir):
    source = tiny_models_dir / "ipadapter" / BASE
    broken = tiny_models_dir / "ipadapter" / "truncated.safetensors"
    broken.write_bytes(source.read_bytes()[:1000])
    with pytest.raises(ValueError, match="'ipadapter'"):
        ipadapter.read_adapter(broken)
