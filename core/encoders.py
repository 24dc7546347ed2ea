"""Encoders for the similarity probe: CLIP (image + text towers), ResNet-50 (images) and BERT (texts).

Each encoder loads one `.safetensors` file from the `encoders` model folder, in the Hugging Face (transformers) key
layout. Its config comes, in this order, from the file's own metadata (`config`, a JSON string: tiny stand-ins carry
one), from a JSON file beside it (`<name>.json`, or `config.json` when the file is an HF folder's `model.safetensors`),
or from the published config bundled in `core/assets/<model>/config.json`. The architecture is read from the weights'
keys and checked against the kind asked for; shapes are checked against the config, never guessed from the file name.

Vectors from different models never share a space: `Embeddings.space` names the space, and the probe refuses to
compare vectors from two spaces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from . import host
from . import images as image_utils
from .model_files import load_safetensors, parse_json, read_json
from .text import shorten
from .tiny_marker import is_tiny, warn_if_tiny

logger = logging.getLogger("LongForm")

ASSETS = Path(__file__).resolve().parent / "assets"
ENCODER_FOLDER = "encoders"
KINDS = ("clip", "resnet50", "bert")
BERT_POOLINGS = ("mean", "cls")

# kind -> (transformers model_type, bundled config folder, tokenizer asset folder or None)
_FAMILIES = {
    "clip": ("clip", "clip-vit-base-patch32", "clip_tokenizer"),
    "resnet50": ("resnet", "resnet-50", None),
    "bert": ("bert", "bert-base-uncased", "bert_tokenizer"),
}
TOKENIZERS = {"clip": "clip_tokenizer", "bert": "bert_tokenizer"}

# CLIP's own pixel statistics (openai/clip-vit-base-patch32 preprocessor) and ImageNet's (microsoft/resnet-50).
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RESNET_CROP, RESNET_CROP_PCT = 224, 0.875

# Prefixes that published files put in front of the bare model's keys (task heads wrap the model).
_STRIP_PREFIXES = ("resnet.", "bert.", "model.")
# Weights the probe does not use: classification / pre-training heads, BERT's pooler (we pool ourselves), and
# position-id buffers that older files saved.
_IGNORED_PREFIXES = ("classifier.", "cls.", "pooler.")
_IGNORED_SUFFIXES = ("position_ids", "token_type_ids")


@dataclass
class Embeddings:
    """Vectors from one encoder, with what is needed to compare them honestly.

    `vectors` is [N, D] float32 on the CPU (not normalised). Vectors are comparable only within one `space`.
    `kind` is "image" or "text"; `labels` name the rows (the texts, or "image 0", ...). For texts, `token_counts`
    holds each text's length in tokens (with special tokens, before truncation) and `truncated` whether it was cut
    to `max_tokens`. `logit_scale` is CLIP's learned temperature (None for encoders without one).
    """

    vectors: torch.Tensor
    space: str
    kind: str
    labels: list[str]
    encoder: str
    logit_scale: float | None = None
    token_counts: list[int] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    max_tokens: int | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@dataclass
class TokenView:
    """How one text is tokenized: tokens and ids (with special tokens), the encoder's limit and whether it is cut."""

    tokenizer: str
    text: str
    tokens: list[str]
    ids: list[int]
    count: int
    max_tokens: int

    @property
    def truncated(self) -> bool:
        """True when the text is longer than the tokenizer's limit and would be cut."""
        return self.count > self.max_tokens


@lru_cache(maxsize=None)
def load_tokenizer(name: str):
    """The bundled tokenizer `name` ("clip": CLIP's byte-level BPE, 77 tokens; "bert": BERT uncased WordPiece, 512)."""
    if name not in TOKENIZERS:
        raise ValueError(f"Unknown tokenizer '{name}': choose one of {', '.join(TOKENIZERS)}.")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ASSETS / TOKENIZERS[name]), local_files_only=True)


def token_view(tokenizer_name: str, text: str, max_tokens: int | None = None) -> TokenView:
    """Tokenize `text` with the bundled tokenizer `tokenizer_name` (no truncation, so the real length shows)."""
    tokenizer = load_tokenizer(tokenizer_name)
    ids = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    limit = max_tokens or int(tokenizer.model_max_length)
    return TokenView(tokenizer_name, text, tokenizer.convert_ids_to_tokens(ids), list(ids), len(ids), limit)


# ---------------------------------------------------------------------------------------------------- encoders


class Encoder:
    """A loaded encoder, its memory managed by the host (ComfyUI's model management inside ComfyUI). Subclasses
    implement the modalities their model has; each encode call first asks the host to put the model on its device."""

    kind: str = ""

    def __init__(self, model: torch.nn.Module, config, path: Path, tiny: bool):
        self.model = model
        self.managed = host.ManagedModel(model, host.ENCODER)
        self.config = config
        self.path = path
        self.name = path.name
        self.tiny = tiny
        self.logit_scale: float | None = None
        self.max_tokens: int | None = None

    @property
    def space(self) -> str:
        """The name of the vector space this encoder writes into (one per model file)."""
        return f"{self.kind}:{self.name}"

    @property
    def modalities(self) -> tuple[str, ...]:
        """What this encoder can encode: "image", "text" or both."""
        return ()

    def encode_images(self, images: torch.Tensor, batch_size: int = 16) -> Embeddings:
        """Encode an IMAGE batch [B, H, W, C] into [B, D] vectors."""
        raise ValueError(
            f"The {self.kind} encoder '{self.name}' encodes texts only, not images: load a 'clip' or 'resnet50' "
            "encoder for images."
        )

    def encode_texts(self, texts: list[str], batch_size: int = 32, truncate: bool = False) -> Embeddings:
        """Encode texts into [N, D] vectors; a text over the encoder's length is an error unless `truncate`."""
        raise ValueError(
            f"The {self.kind} encoder '{self.name}' encodes images only, not texts: load a 'clip' or 'bert' "
            "encoder for texts."
        )

    def tokenize(self, text: str) -> TokenView:
        """How this encoder's tokenizer splits `text`."""
        raise ValueError(f"The {self.kind} encoder '{self.name}' has no tokenizer: it encodes images only.")

    # Shared helpers ---------------------------------------------------------------------------------------

    def _image_batches(self, images: torch.Tensor, batch_size: int, field_name: str = "images"):
        """Validated [B, H, W, 3] images, split into batches with a progress bar that checks interrupt."""
        images = image_utils.check_image_batch(images, field_name)
        batch_size = _check_batch_size(batch_size)
        with host.progress((len(images) + batch_size - 1) // batch_size, f"encoding images ({self.kind})") as bar:
            for start in range(0, len(images), batch_size):
                yield images[start : start + batch_size]
                bar.update()

    def _tokenize(self, texts: list[str], tokenizer_name: str, truncate: bool):
        """Token ids of `texts` (tokenized once), their full lengths and truncation flags.

        Empty input is an error, and so is a text over `max_tokens` unless `truncate`: then it keeps its first
        tokens and its end token ([SEP] or end-of-text), as the tokenizer's own truncation would.
        """
        texts = check_texts(texts)
        limit = int(self.max_tokens)
        ids = load_tokenizer(tokenizer_name)(texts, truncation=False, verbose=False)["input_ids"]
        counts = [len(row) for row in ids]
        too_long = [(i, n) for i, n in enumerate(counts) if n > limit]
        if too_long and not truncate:
            listed = "; ".join(f"line {i + 1} ({n} tokens): '{shorten(texts[i])}'" for i, n in too_long[:5])
            raise ValueError(
                f"'texts': {len(too_long)} text(s) are longer than the {self.kind} encoder's {limit} tokens: {listed}. "
                "Shorten them, or switch 'truncate' on to cut them (the table then marks each cut text)."
            )
        for i, n in too_long:
            logger.warning("Text %d (%d tokens) cut to the %s encoder's %d tokens.", i + 1, n, self.kind, limit)
        ids = [row if len(row) <= limit else row[: limit - 1] + row[-1:] for row in ids]
        return ids, counts, [n > limit for n in counts]

    def _encode_token_batches(self, texts, tokenizer_name, truncate, batch_size, forward):
        """Tokenize, then run `forward(input_ids, attention_mask) -> [b, D]` batch by batch (padded to the longest)."""
        ids, counts, cut = self._tokenize(texts, tokenizer_name, truncate)
        pad_id = int(load_tokenizer(tokenizer_name).pad_token_id)
        batch_size = _check_batch_size(batch_size)
        out = []
        device = self.managed.load()
        with host.progress((len(ids) + batch_size - 1) // batch_size, f"encoding texts ({self.kind})") as bar:
            for start in range(0, len(ids), batch_size):
                rows = ids[start : start + batch_size]
                width = max(len(row) for row in rows)
                input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
                attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
                for i, row in enumerate(rows):
                    input_ids[i, : len(row)] = torch.tensor(row)
                    attention_mask[i, : len(row)] = 1
                out.append(forward(input_ids.to(device), attention_mask.to(device)).cpu())
                bar.update()
        return self._embeddings(out, "text", list(texts), token_counts=counts, truncated=cut, max_tokens=self.max_tokens)

    def _embeddings(self, vectors: list[torch.Tensor], kind: str, labels: list[str], **extra) -> Embeddings:
        return Embeddings(
            vectors=torch.cat(vectors).float().cpu(),
            space=self.space,
            kind=kind,
            labels=labels,
            encoder=self.name,
            logit_scale=self.logit_scale,
            **extra,
        )


class ClipEncoder(Encoder):
    """CLIP: an image tower and a text tower projected into one shared space, with a learned logit scale."""

    kind = "clip"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # CLIP clamps its temperature at 100 (log 4.6052) in training; apply the same bound here.
        self.logit_scale = float(self.model.logit_scale.detach().exp().clamp(max=100.0))
        self.max_tokens = int(self.config.text_config.max_position_embeddings)
        self.image_size = int(self.config.vision_config.image_size)

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("image", "text")

    def pixel_values(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP's preprocessing of a [B, H, W, 3] batch: shortest side to image_size (bicubic), centre crop, normalise."""
        return preprocess(images, self.image_size, self.image_size, CLIP_MEAN, CLIP_STD)

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor, batch_size: int = 16) -> Embeddings:
        out, device = [], self.managed.load()
        for batch in self._image_batches(images, batch_size):
            pixels = self.pixel_values(batch).to(device=device, dtype=self.managed.dtype)
            pooled = self.model.vision_model(pixel_values=pixels).pooler_output
            out.append(self.model.visual_projection(pooled).cpu())
        return self._embeddings(out, "image", [f"image {i}" for i in range(sum(len(v) for v in out))])

    @torch.inference_mode()
    def encode_texts(self, texts: list[str], batch_size: int = 32, truncate: bool = False) -> Embeddings:
        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # Padding to the batch's longest text is enough: CLIP's text tower is causal and pools the end token,
            # so the padding after it never reaches the result.
            pooled = self.model.text_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
            return self.model.text_projection(pooled)

        return self._encode_token_batches(texts, "clip", truncate, batch_size, forward)

    def tokenize(self, text: str) -> TokenView:
        return token_view("clip", text, self.max_tokens)


class ResNetEncoder(Encoder):
    """ResNet-50 image features: the 2048-d globally average-pooled output of the last stage."""

    kind = "resnet50"

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("image",)

    def pixel_values(self, images: torch.Tensor) -> torch.Tensor:
        """microsoft/resnet-50's preprocessing: shortest side to 224/0.875 = 256, centre crop 224, ImageNet stats."""
        return preprocess(images, round(RESNET_CROP / RESNET_CROP_PCT), RESNET_CROP, IMAGENET_MEAN, IMAGENET_STD)

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor, batch_size: int = 16) -> Embeddings:
        out, device = [], self.managed.load()
        for batch in self._image_batches(images, batch_size):
            pooled = self.model(pixel_values=self.pixel_values(batch).to(device=device, dtype=self.managed.dtype)).pooler_output
            out.append(pooled.flatten(1).cpu())
        return self._embeddings(out, "image", [f"image {i}" for i in range(sum(len(v) for v in out))])


class BertEncoder(Encoder):
    """BERT sentence vectors: the mean of the last layer's token vectors (default) or the [CLS] token's vector.

    Mean pooling is the default because it is what sentence encoders of the BERT family (all-MiniLM-L6-v2,
    sentence-transformers) are trained for, and because plain BERT's [CLS] vector is trained only for next-sentence
    prediction: its cosine similarities barely separate related from unrelated sentences.
    """

    kind = "bert"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_tokens = min(int(self.config.max_position_embeddings), int(load_tokenizer("bert").model_max_length))

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("text",)

    def space_for(self, pooling: str) -> str:
        """Mean-pooled and [CLS] vectors are different spaces: each has its own space name."""
        return f"{self.space}:{pooling}"

    @torch.inference_mode()
    def encode_texts(
        self, texts: list[str], batch_size: int = 32, truncate: bool = False, pooling: str = "mean"
    ) -> Embeddings:
        """Encode texts; `pooling` is "mean" (masked mean of token vectors) or "cls" (the [CLS] token's vector)."""
        if pooling not in BERT_POOLINGS:
            raise ValueError(f"'pooling' must be one of {', '.join(BERT_POOLINGS)}; got '{pooling}'.")

        def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return pool_tokens(hidden, attention_mask, pooling)

        embeddings = self._encode_token_batches(texts, "bert", truncate, batch_size, forward)
        embeddings.space = self.space_for(pooling)
        return embeddings

    def tokenize(self, text: str) -> TokenView:
        return token_view("bert", text, self.max_tokens)


_ENCODER_CLASSES: dict[str, type[Encoder]] = {"clip": ClipEncoder, "resnet50": ResNetEncoder, "bert": BertEncoder}


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Sentence vectors from token vectors [B, T, D]: masked mean over real tokens, or the first ([CLS]) token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def preprocess(
    images: torch.Tensor, resize_to: int, crop: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """[B, H, W, 3] in 0..1 -> normalised [B, 3, crop, crop]: shortest side to `resize_to`, then a centre crop.

    Done in torch on the whole batch (bicubic with antialiasing, as PIL resizes), so no per-image PIL round trip.
    """
    pixels = images.permute(0, 3, 1, 2).float()
    height, width = pixels.shape[-2:]
    # Output size as transformers' processors compute it: the short side exactly, the long side truncated.
    short = min(height, width)
    size = (max(crop, int(height * resize_to / short)), max(crop, int(width * resize_to / short)))
    if size != (height, width):
        pixels = F.interpolate(pixels, size=size, mode="bicubic", align_corners=False, antialias=True)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    pixels = pixels[:, :, top : top + crop, left : left + crop].clamp(0, 1)
    mean_t = torch.tensor(mean, dtype=pixels.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - mean_t) / std_t


def check_texts(texts: list[str], field_name: str = "texts") -> list[str]:
    """Non-empty list of non-empty strings, else a ValueError naming `field_name`."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError(f"'{field_name}' must be a list of strings; got {type(texts).__name__}.")
    if not texts:
        raise ValueError(f"'{field_name}' is empty: give at least one text (one per line).")
    blank = [i + 1 for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if blank:
        raise ValueError(f"'{field_name}' has empty entries at positions {blank}: remove them or write a text there.")
    return list(texts)


def parse_lines(text: str, field_name: str = "texts") -> list[str]:
    """One text per non-blank line (surrounding spaces stripped); an input with no text at all is an error."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"'{field_name}' has no text: write one text per line.")
    return lines


def _check_batch_size(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise ValueError(f"'batch_size' must be at least 1; got {batch_size}.")
    return int(batch_size)


# ----------------------------------------------------------------------------------------------------- loading

_CACHE: dict[tuple, Encoder] = {}


def load_encoder(kind: str, filename: str) -> Encoder:
    """Load (or reuse) the `kind` encoder ("clip", "resnet50", "bert") from models/encoders/`filename`.

    Cached per resolved path and file modification time, so a replaced file is reloaded. The cache keeps the
    encoder, not its place: inside ComfyUI its model management may move the weights off the device at any time.
    """
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)}; got '{kind}'.")
    path = host.model_path(ENCODER_FOLDER, filename)
    key = (kind, str(path), path.stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = _load(kind, path)
    return _CACHE[key]


@host.release_on_unload
def clear_cache() -> None:
    """Forget every loaded encoder and the bundled tokenizers (frees their memory); also when ComfyUI unloads its
    models."""
    _CACHE.clear()
    load_tokenizer.cache_clear()


def detect_architecture(keys: list[str]) -> str | None:
    """The encoder kind a state dict's keys belong to ("clip", "resnet50", "bert"), or None if none fits."""
    if any(k == "logit_scale" or k.startswith("visual_projection.") for k in keys):
        return "clip"
    if any(k.endswith("embedder.embedder.convolution.weight") for k in keys):
        return "resnet50"
    if any(k.endswith("embeddings.word_embeddings.weight") for k in keys):
        return "bert"
    return None


def _load(kind: str, path: Path) -> Encoder:
    if path.is_dir() or path.suffix != ".safetensors":
        raise ValueError(f"'{path.name}' is not a .safetensors file: the probe loads single .safetensors files.")
    state, metadata = load_safetensors(path, "encoder")
    found = detect_architecture(list(state))
    if found != kind:
        fix = f"choose kind '{found}' for this file, or pick a {kind} file" if found else f"pick a {kind} file"
        raise ValueError(
            f"'{path.name}' holds {f'a {found} model' if found else 'no CLIP, ResNet-50 or BERT weights'} (read from "
            f"its weight names, in the Hugging Face layout), but the encoder kind is '{kind}': {fix}."
        )
    warn_if_tiny(metadata, path)
    config_dict, source = _find_config(kind, path, metadata)
    model, config = _build_model(kind, config_dict, source)
    _load_weights(model, state, path, source)
    encoder = _ENCODER_CLASSES[kind](model.eval(), config, path, is_tiny(metadata))
    logger.info("Loaded %s encoder %s (config: %s) for %s.", kind, path.name, source, encoder.managed.device)
    return encoder


def _find_config(kind: str, path: Path, metadata: dict[str, str]) -> tuple[dict, str]:
    """The model config: file metadata, else a JSON beside the file, else the bundled published config."""
    model_type, bundled, _ = _FAMILIES[kind]
    if "config" in metadata:
        config, source = parse_json(metadata["config"], "encoder", path, what="config"), "the file's metadata"
    else:
        sidecars = [path.with_suffix(".json")]
        if path.name == "model.safetensors":
            sidecars.append(path.parent / "config.json")
        sidecar = next((p for p in sidecars if p.is_file()), None)
        source_path = sidecar or ASSETS / bundled / "config.json"
        config = read_json(source_path, "encoder")
        source = str(sidecar) if sidecar else f"the bundled {bundled} config"
    if not isinstance(config, dict) or config.get("model_type") != model_type:
        raise ValueError(
            f"The config for '{path.name}' (from {source}) has model_type "
            f"'{config.get('model_type') if isinstance(config, dict) else None}', "
            f"but a {kind} encoder needs '{model_type}'."
        )
    return config, source


def _build_model(kind: str, config_dict: dict, source: str):
    import transformers

    if kind == "clip":
        config = transformers.CLIPConfig.from_dict(config_dict)
        return transformers.CLIPModel(config), config
    if kind == "resnet50":
        config = transformers.ResNetConfig.from_dict(config_dict)
        return transformers.ResNetModel(config), config
    config = transformers.BertConfig.from_dict(config_dict)
    return transformers.BertModel(config, add_pooling_layer=False), config


def _normalise_key(key: str, expected: set[str]) -> str | None:
    """The model key a file key maps to; None for weights the probe ignores (heads, position-id buffers).

    Handles task-head prefixes (`resnet.`, `bert.`), old LayerNorm names (gamma/beta), and CLIP text towers saved
    by transformers >= 5.6 without their `text_model.` prefix.
    """
    candidates = [key]
    for prefix in _STRIP_PREFIXES:
        if key.startswith(prefix):
            candidates.append(key[len(prefix) :])
    candidates += [c.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias") for c in candidates]
    candidates += ["text_model." + c for c in candidates]
    for candidate in candidates:
        if candidate in expected:
            return candidate
    if key.endswith(_IGNORED_SUFFIXES) or any(c.startswith(_IGNORED_PREFIXES) for c in candidates):
        return None
    return key


def _load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, source: str) -> None:
    """Copy `state` into `model`, mapping key layouts; any missing, unknown or misshaped weight is an error."""
    own = model.state_dict()
    expected = {k for k in own if not k.endswith(_IGNORED_SUFFIXES)}
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state.items():
        target = _normalise_key(key, expected)
        if target is None:
            continue
        if target not in expected:
            unknown.append(key)
            continue
        mapped[target] = tensor
    missing = sorted(expected - set(mapped))
    wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in mapped.items() if v.shape != own[k].shape]
    if missing or unknown or wrong:
        details = []
        if wrong:
            details.append("shape mismatches " + ", ".join(f"{k} {a} vs {b}" for k, a, b in wrong[:3]))
        if missing:
            details.append(f"{len(missing)} missing weights (e.g. {', '.join(missing[:3])})")
        if unknown:
            details.append(f"{len(unknown)} unknown weights (e.g. {', '.join(unknown[:3])})")
        raise ValueError(
            f"'{path.name}' does not fit its config (from {source}): {'; '.join(details)}. If it is another size of "
            f"this architecture, put its config.json beside it as '{path.with_suffix('.json').name}'."
        )
    model.load_state_dict(mapped, strict=False)
