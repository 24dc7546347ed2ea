"""Tiny stand-ins for the identity lock: IP-Adapters (base, plus, FaceID) and an insightface pack.

The IP-Adapter files use the published key layout (`image_proj.*`, `ip_adapter.{k}.*` with k counting every attention
processor of the UNet from 0, so cross-attention layers get odd numbers), sized for the tiny SD 1.5 UNet that ComfyUI's
loaders accept (`TINY_UNET_CONFIG`: 7 cross-attention layers, k = 1, 3, ..., 13, context 768) and for the CLIP ViT-H
that core `CLIPVisionLoader` loads (base reads its 1024-d `image_embeds`, plus its 1280-wide penultimate hidden
states). The insightface pack is two ONNX graphs built with the `onnx` package: an SCRFD-shaped detector (9 outputs:
scores, boxes and 5 keypoints at strides 8/16/32, 2 anchors) that fires on skin-coloured cells, and an ArcFace-shaped
recognition model (1x3x112x112 -> 512).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..ipadapter import layout_from_config
from ..tiny_marker import TINY_METADATA
from .clip_vision import CLIP_VISION_PROJECTION, CLIP_VISION_WIDTH
from .stylize import TINY_UNET_CONFIG

IP_TOKENS = 4  # image tokens of the base IP-Adapter and of FaceID, as published
PLUS_QUERIES = 4  # the published Plus resampler has 16 queries; 4 keep the tiny one small
PLUS_DEPTH = 4
PLUS_DIM = 64  # the resampler's heads are to_q rows // 64, so one 64-wide head
FACE_EMBED_DIM = 512  # ArcFace embedding size, the FaceID projection's input
FACEID_LORA_RANK = 4
DETECTOR_SIZE = 64  # static input of the tiny detector (the real SCRFD takes any size)
DETECTOR_STRIDES = (8, 16, 32)
# Five keypoints (eyes, nose, mouth corners) inside a detector cell, in cell units, as SCRFD orders them.
CELL_KEYPOINTS = ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))


def _unet_layout() -> list[tuple[int, int, int | None]]:
    """(processor index, hidden size, cross-attention dim or None) for every attention processor of the tiny UNet:
    self-attention 2n, cross-attention 2n + 1."""
    layout = []
    for k, hidden, cross in layout_from_config(TINY_UNET_CONFIG):
        layout += [(k - 1, hidden, None), (k, hidden, cross)]
    return layout


def _cross_attention_dim() -> int:
    return int(TINY_UNET_CONFIG["context_dim"])


def _randn(generator: torch.Generator, *shape: int, scale: float = 0.2) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * scale


def _ip_layers(generator: torch.Generator, lora: bool) -> dict[str, torch.Tensor]:
    """`ip_adapter.*` weights: to_k_ip/to_v_ip on cross-attention layers; FaceID adds LoRA on every layer."""
    state: dict[str, torch.Tensor] = {}
    for index, hidden, cross in _unet_layout():
        if cross is not None:
            state[f"ip_adapter.{index}.to_k_ip.weight"] = _randn(generator, hidden, cross, scale=cross**-0.5)
            state[f"ip_adapter.{index}.to_v_ip.weight"] = _randn(generator, hidden, cross, scale=cross**-0.5)
        if lora:
            for name, width in (("to_q", hidden), ("to_k", cross or hidden), ("to_v", cross or hidden), ("to_out", hidden)):
                state[f"ip_adapter.{index}.{name}_lora.down.weight"] = _randn(generator, FACEID_LORA_RANK, width)
                state[f"ip_adapter.{index}.{name}_lora.up.weight"] = _randn(generator, hidden, FACEID_LORA_RANK, scale=0.05)
    return state


def _layer_norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": torch.ones(width), f"{prefix}.bias": torch.zeros(width)}


def _save_safetensors(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=dict(TINY_METADATA))


def build_ipadapter_sd15(path: Path) -> None:
    """Base IP-Adapter: `image_proj.proj` (CLIP image embedding -> 4 tokens) + `image_proj.norm`."""
    generator = torch.Generator().manual_seed(601)
    cross = _cross_attention_dim()
    state = {
        "image_proj.proj.weight": _randn(generator, IP_TOKENS * cross, CLIP_VISION_PROJECTION, scale=0.05),
        "image_proj.proj.bias": torch.zeros(IP_TOKENS * cross),
        **_layer_norm("image_proj.norm", cross),
        **_ip_layers(generator, lora=False),
    }
    _save_safetensors(state, path)


def build_ipadapter_plus_sd15(path: Path) -> None:
    """IP-Adapter Plus: a perceiver resampler over CLIP's penultimate hidden states, published key names."""
    generator = torch.Generator().manual_seed(602)
    cross, width = _cross_attention_dim(), CLIP_VISION_WIDTH
    state = {
        "image_proj.latents": _randn(generator, 1, PLUS_QUERIES, PLUS_DIM, scale=PLUS_DIM**-0.5),
        "image_proj.proj_in.weight": _randn(generator, PLUS_DIM, width, scale=0.05),
        "image_proj.proj_in.bias": torch.zeros(PLUS_DIM),
        "image_proj.proj_out.weight": _randn(generator, cross, PLUS_DIM),
        "image_proj.proj_out.bias": torch.zeros(cross),
        **_layer_norm("image_proj.norm_out", cross),
    }
    # layers.{i}.0: PerceiverAttention (norm1, norm2, to_q, to_kv, to_out); layers.{i}.1: FeedForward (LN, Linear,
    # GELU, Linear). Four layers as published: diffusers builds the resampler with depth 4 whatever the file holds.
    for layer in range(PLUS_DEPTH):
        prefix = f"image_proj.layers.{layer}"
        state |= {
            **_layer_norm(f"{prefix}.0.norm1", PLUS_DIM),
            **_layer_norm(f"{prefix}.0.norm2", PLUS_DIM),
            f"{prefix}.0.to_q.weight": _randn(generator, PLUS_DIM, PLUS_DIM),
            f"{prefix}.0.to_kv.weight": _randn(generator, 2 * PLUS_DIM, PLUS_DIM),
            f"{prefix}.0.to_out.weight": _randn(generator, PLUS_DIM, PLUS_DIM),
            **_layer_norm(f"{prefix}.1.0", PLUS_DIM),
            f"{prefix}.1.1.weight": _randn(generator, 4 * PLUS_DIM, PLUS_DIM),
            f"{prefix}.1.3.weight": _randn(generator, PLUS_DIM, 4 * PLUS_DIM),
        }
    state |= _ip_layers(generator, lora=False)
    _save_safetensors(state, path)


def build_ipadapter_faceid_sd15(path: Path) -> None:
    """IP-Adapter FaceID as published: a torch pickle {"image_proj": MLP 512 -> 4 tokens, "ip_adapter": IP + LoRA}."""
    generator = torch.Generator().manual_seed(603)
    cross = _cross_attention_dim()
    image_proj = {
        "proj.0.weight": _randn(generator, 2 * FACE_EMBED_DIM, FACE_EMBED_DIM, scale=0.05),
        "proj.0.bias": torch.zeros(2 * FACE_EMBED_DIM),
        "proj.2.weight": _randn(generator, IP_TOKENS * cross, 2 * FACE_EMBED_DIM, scale=0.05),
        "proj.2.bias": torch.zeros(IP_TOKENS * cross),
        **_layer_norm("norm", cross),
    }
    layers = {k.removeprefix("ip_adapter."): v for k, v in _ip_layers(generator, lora=True).items()}
    # A .bin cannot hold file metadata; the marker travels as a string entry that loaders read like metadata.
    torch.save({"image_proj": image_proj, "ip_adapter": layers, "metadata": dict(TINY_METADATA)}, path)


# ------------------------------------------------------------------------------------------------------- insightface


def _detector_graph():
    """SCRFD-shaped ONNX detector. Score of a cell = sigmoid(20 * (mean(R - B) over the cell - 0.3)) on SCRFD's
    normalised input, so skin-coloured cells fire and grey/blue/black ones do not; boxes are the cell, keypoints sit at
    fixed places in it. Output order as SCRFD expects: 3 score maps, 3 box maps, 3 keypoint maps."""
    from onnx import TensorProto, helper, numpy_helper

    size = DETECTOR_SIZE
    nodes = [
        helper.make_node("Conv", ["input.1", "red_minus_blue"], ["skin"], name="skin_conv"),
    ]
    initializers = [numpy_helper.from_array(np.array([1.0, 0.0, -1.0], np.float32).reshape(1, 3, 1, 1), "red_minus_blue")]
    initializers += [
        numpy_helper.from_array(np.array(20.0, np.float32), "gain"),
        numpy_helper.from_array(np.array(0.3, np.float32), "threshold"),
    ]
    outputs, box_nodes, kps_nodes = [], [], []
    for stride in DETECTOR_STRIDES:
        cells = (size // stride) ** 2
        anchors = cells * 2
        nodes += [
            helper.make_node("AveragePool", ["skin"], [f"pool{stride}"], kernel_shape=[stride, stride], strides=[stride, stride]),
            helper.make_node("Sub", [f"pool{stride}", "threshold"], [f"centred{stride}"]),
            helper.make_node("Mul", [f"centred{stride}", "gain"], [f"logit{stride}"]),
            helper.make_node("Sigmoid", [f"logit{stride}"], [f"prob{stride}"]),
            # [1,1,h,w] -> [h*w, 1], then each cell twice (2 anchors per cell, consecutive as SCRFD lays them out)
            helper.make_node("Reshape", [f"prob{stride}", "cells_shape"], [f"flat{stride}"]),
            helper.make_node("Concat", [f"flat{stride}", f"flat{stride}"], [f"pair{stride}"], axis=1),
            helper.make_node("Reshape", [f"pair{stride}", "anchor_shape"], [f"score_{stride}"]),
        ]
        box = np.tile(np.array([0.0, 0.0, 1.0, 1.0], np.float32), (anchors, 1))
        kps = np.tile(np.array(CELL_KEYPOINTS, np.float32).reshape(1, 10), (anchors, 1))
        box_nodes.append(helper.make_node("Constant", [], [f"bbox_{stride}"], value=numpy_helper.from_array(box)))
        kps_nodes.append(helper.make_node("Constant", [], [f"kps_{stride}"], value=numpy_helper.from_array(kps)))
        outputs.append((f"score_{stride}", [anchors, 1]))
    initializers += [
        numpy_helper.from_array(np.array([-1, 1], np.int64), "cells_shape"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "anchor_shape"),
    ]
    nodes += box_nodes + kps_nodes
    for stride in DETECTOR_STRIDES:
        outputs.append((f"bbox_{stride}", [(size // stride) ** 2 * 2, 4]))
    for stride in DETECTOR_STRIDES:
        outputs.append((f"kps_{stride}", [(size // stride) ** 2 * 2, 10]))
    graph = helper.make_graph(
        nodes,
        "longform_tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs],
        initializers,
    )
    return _onnx_model(graph)


def _onnx_model(graph):
    """An ONNX model at opset 17 and IR version 8, which every onnxruntime since 1.13 reads (the onnx package would
    otherwise stamp its newest IR version, which an older onnxruntime-gpu refuses; the real packs are older still)."""
    from onnx import helper

    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                             producer_name="longform-tiny")


def _recognition_graph(seed: int):
    """ArcFace-shaped ONNX recognition model: [N, 3, 112, 112] -> [N, 512] through two strided convs and a Gemm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {
        "conv1_w": rng.normal(0, 0.2, (8, 3, 4, 4)).astype(np.float32),
        "conv2_w": rng.normal(0, 0.1, (16, 8, 4, 4)).astype(np.float32),
        "fc_w": rng.normal(0, 0.05, (16 * 7 * 7, FACE_EMBED_DIM)).astype(np.float32),
        "fc_b": np.zeros(FACE_EMBED_DIM, np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["input.1", "conv1_w"], ["c1"], strides=[4, 4], name="Conv_0"),
        helper.make_node("Relu", ["c1"], ["r1"], name="Relu_1"),
        helper.make_node("Conv", ["r1", "conv2_w"], ["c2"], strides=[4, 4], name="Conv_2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="Relu_3"),
        helper.make_node("Flatten", ["r2"], ["flat"], axis=1, name="Flatten_4"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["683"], name="Gemm_5"),
    ]
    graph = helper.make_graph(
        nodes,
        "longform_tiny_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", FACE_EMBED_DIM])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    return _onnx_model(graph)


def build_insightface_pack(path: Path) -> None:
    """A folder of ONNX files laid out as FaceAnalysis expects (root/models/<name>/*.onnx): det + recognition."""
    import onnx

    path.mkdir(parents=True, exist_ok=True)
    for name, model in (("det_tiny.onnx", _detector_graph()), ("w600k_tiny.onnx", _recognition_graph(606))):
        onnx.checker.check_model(model)
        for key, value in TINY_METADATA.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(path / name))


BUILDERS = {
    "ipadapter_sd15": build_ipadapter_sd15,
    "ipadapter_plus_sd15": build_ipadapter_plus_sd15,
    "ipadapter_faceid_sd15": build_ipadapter_faceid_sd15,
    "insightface_buffalo_l": build_insightface_pack,
}
