"""Tiny seeded stand-ins for the probe's encoders, written like the published files (HF key layout, safetensors).

CLIP keeps the real tokenizer's 49,408-token vocabulary and 77 positions, BERT the real 30,522-token vocabulary and
512 positions, so the bundled tokenizers drive them unchanged; everything else is a few thousand weights wide. The
config travels in the file's metadata (`config`), next to `TINY_METADATA`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..tiny_marker import TINY_METADATA

TINY_CLIP_CONFIG = {
    "model_type": "clip",
    "projection_dim": 16,
    "logit_scale_init_value": 2.6592,
    "text_config": {
        "vocab_size": 49408,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": 16,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    },
    "vision_config": {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "image_size": 32,
        "patch_size": 8,
        "hidden_act": "quick_gelu",
        "projection_dim": 16,
    },
}

TINY_RESNET_CONFIG = {
    "model_type": "resnet",
    "num_channels": 3,
    "embedding_size": 8,
    "hidden_sizes": [8, 16, 16, 32],
    "depths": [1, 1, 1, 1],
    "layer_type": "bottleneck",
    "hidden_act": "relu",
    "downsample_in_first_stage": False,
    "num_labels": 4,
}

TINY_BERT_CONFIG = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "pad_token_id": 0,
}


def _save(model: torch.nn.Module, config: dict, path: Path) -> None:
    """Write the model's weights with the config and tiny marker in the metadata.

    Position-id buffers are left out, and a tied weight is written once (under its first name), as published files do.
    """
    from safetensors.torch import save_file

    state, seen = {}, set()
    for key, tensor in model.state_dict().items():
        if key.endswith(("position_ids", "token_type_ids")) or tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        state[key] = tensor.detach().contiguous()
    save_file(state, str(path), metadata={**TINY_METADATA, "config": json.dumps(config)})


def build_clip(path: Path) -> None:
    """A tiny CLIPModel (both towers, projections, logit scale), keys as in openai/clip-vit-base-patch32."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    _save(CLIPModel(CLIPConfig.from_dict(TINY_CLIP_CONFIG)), TINY_CLIP_CONFIG, path)


def build_resnet50(path: Path) -> None:
    """A tiny ResNet with a classifier head, keys as in microsoft/resnet-50 (`resnet.` prefix, `classifier.1`)."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    model = ResNetForImageClassification(ResNetConfig.from_dict(TINY_RESNET_CONFIG))
    # Non-trivial batch-norm statistics, so that loading them (not keeping the defaults) is what the tests see.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    _save(model, TINY_RESNET_CONFIG, path)


def build_bert(path: Path) -> None:
    """A tiny BertForMaskedLM, keys as in google-bert/bert-base-uncased (`bert.` prefix, `cls.` head)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    _save(BertForMaskedLM(BertConfig.from_dict(TINY_BERT_CONFIG)), TINY_BERT_CONFIG, path)


BUILDERS = {"clip_probe": build_clip, "resnet50": build_resnet50, "bert_base_uncased": build_bert}
