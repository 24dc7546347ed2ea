"""CLIP similarity probe nodes: load an encoder, encode images and texts, compare them, look at tokens."""

from __future__ import annotations

from ..core import host, probe

CATEGORY = "LongForm/probe"
ENCODER = "LF_ENCODER"
EMBEDDINGS = "LF_EMBEDDINGS"


def _encoder_files() -> list[str]:
    return host.list_models(probe.ENCODER_FOLDER, (".safetensors",))


def _batch_size_input(default: int) -> tuple:
    return (
        "INT",
        {"default": default, "min": 1, "max": 1024, "tooltip": "How many items go through the model at once; "
         "results do not depend on it, memory use does."},
    )


def _texts_input() -> tuple:
    return (
        "STRING",
        {"multiline": True, "default": "a photo of a cat\na photo of a dog\na painting of a city at night",
         "tooltip": "One text per line; blank lines are skipped."},
    )


def _truncate_input() -> tuple:
    return (
        "BOOLEAN",
        {"default": False, "tooltip": "Off: a text longer than the encoder takes (77 tokens for CLIP, 512 for BERT) is "
         "an error. On: it is cut to that length and marked TRUNCATED in the outputs."},
    )


class LF_ProbeEncoderLoader:
    """Load a CLIP, ResNet-50 or BERT encoder from models/encoders."""

    DESCRIPTION = (
        "Loads an encoder from models/encoders (a .safetensors file in the Hugging Face layout): CLIP encodes images "
        "and texts into one shared space, ResNet-50 encodes images, BERT encodes texts. Loaded once and reused."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = (ENCODER,)
    RETURN_NAMES = ("encoder",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "kind": (list(probe.KINDS), {"default": "clip", "tooltip": "The architecture in the file: clip, "
                         "resnet50 or bert. Checked against the weights; a mismatch is an error."}),
                "encoder_file": (_encoder_files(), {"tooltip": "The weights file in models/encoders "
                                 "(e.g. clip-vit-base-patch32.safetensors)."}),
            }
        }

    def load(self, kind: str, encoder_file: str):
        return (probe.load_encoder(kind, encoder_file),)


class LF_ProbeEncodeImages:
    """IMAGE batch -> image vectors."""

    DESCRIPTION = "Encodes every image of a batch into one vector each (CLIP's image tower or ResNet-50's pooled features)."
    CATEGORY = CATEGORY
    RETURN_TYPES = (EMBEDDINGS,)
    RETURN_NAMES = ("embeddings",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "encoder": (ENCODER, {"tooltip": "From LF Probe Encoder Loader (clip or resnet50)."}),
                "images": ("IMAGE", {"tooltip": "The images to encode, any size (resized and centre-cropped)."}),
                "batch_size": _batch_size_input(16),
            }
        }

    def encode(self, encoder, images, batch_size: int):
        return (encoder.encode_images(images, batch_size=batch_size),)


class LF_ProbeEncodeTexts:
    """Texts (one per line) -> text vectors."""

    DESCRIPTION = (
        "Encodes one text per line into one vector each (CLIP's text tower, or a BERT sentence vector). Long texts "
        "are an error unless 'truncate' is on, and then they are marked."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = (EMBEDDINGS,)
    RETURN_NAMES = ("embeddings",)
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "encoder": (ENCODER, {"tooltip": "From LF Probe Encoder Loader (clip or bert)."}),
                "texts": _texts_input(),
                "truncate": _truncate_input(),
                "pooling": (list(probe.POOLINGS), {"default": "auto", "tooltip": "auto: the encoder's own sentence "
                            "vector (CLIP: end token; BERT: mean of tokens). mean / cls: BERT only."}),
                "batch_size": _batch_size_input(32),
            }
        }

    def encode(self, encoder, texts: str, truncate: bool, pooling: str, batch_size: int):
        lines = probe.parse_lines(texts)
        return (probe.encode_texts(encoder, lines, truncate=truncate, pooling=pooling, batch_size=batch_size),)


class LF_ProbeSimilarity:
    """Cosine matrix between two sets of vectors of one space, with table, JSON, best labels and heatmap."""

    DESCRIPTION = (
        "Compares rows (a) with columns (b): the cosine matrix, CLIP's softmax over texts (images x texts), the best "
        "column per row, and a heatmap. Leave b empty to compare a with itself. Both must come from one encoder."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING", "STRING", "STRING", "IMAGE")
    RETURN_NAMES = ("table", "matrix_json", "best_labels", "heatmap")
    FUNCTION = "compare"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "a": (EMBEDDINGS, {"tooltip": "Rows of the matrix (e.g. image embeddings)."}),
            },
            "optional": {
                "b": (EMBEDDINGS, {"tooltip": "Columns of the matrix (e.g. text embeddings); empty: a against itself."}),
            },
        }

    def compare(self, a, b=None):
        result = probe.similarity(a, b)
        return (result.table(), result.to_json(), result.best_labels_text(), result.heatmap_image())


class LF_ProbeTokenView:
    """How CLIP's and BERT's tokenizers split a text."""

    DESCRIPTION = (
        "Shows the tokens and ids a text becomes with CLIP's tokenizer (77 tokens) and/or BERT's (512), special "
        "tokens included, and marks what would be cut."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("tokens",)
    FUNCTION = "view"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": "a photo of a cat", "tooltip": "The text to tokenize."}),
                "tokenizer": (["clip", "bert", "both"], {"default": "both", "tooltip": "Which tokenizer to show."}),
            }
        }

    def view(self, text: str, tokenizer: str):
        names = list(probe.TOKENIZERS) if tokenizer == "both" else [tokenizer]
        return ("\n\n".join(probe.format_token_view(probe.token_view(name, text)) for name in names),)


class LF_ClipProbe:
    """All in one: images and texts through one CLIP file, out come the table and the heatmap."""

    DESCRIPTION = (
        "The one-node probe: loads a CLIP file, encodes the images and the texts (one per line), and gives the "
        "similarity table (cosine and probabilities) and the heatmap."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING", "IMAGE")
    RETURN_NAMES = ("table", "heatmap")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to score against the texts."}),
                "texts": _texts_input(),
                "encoder_file": (_encoder_files(), {"tooltip": "A CLIP file in models/encoders "
                                 "(clip-vit-base-patch32.safetensors)."}),
                "truncate": _truncate_input(),
            }
        }

    def run(self, images, texts: str, encoder_file: str, truncate: bool):
        encoder = probe.load_encoder("clip", encoder_file)
        result = probe.similarity(
            encoder.encode_images(images), encoder.encode_texts(probe.parse_lines(texts), truncate=truncate)
        )
        return (result.table(), result.heatmap_image())


NODE_CLASS_MAPPINGS = {
    "LF_ProbeEncoderLoader": LF_ProbeEncoderLoader,
    "LF_ProbeEncodeImages": LF_ProbeEncodeImages,
    "LF_ProbeEncodeTexts": LF_ProbeEncodeTexts,
    "LF_ProbeSimilarity": LF_ProbeSimilarity,
    "LF_ProbeTokenView": LF_ProbeTokenView,
    "LF_ClipProbe": LF_ClipProbe,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_ProbeEncoderLoader": "LF Probe Encoder Loader",
    "LF_ProbeEncodeImages": "LF Probe Encode Images",
    "LF_ProbeEncodeTexts": "LF Probe Encode Texts",
    "LF_ProbeSimilarity": "LF Probe Similarity",
    "LF_ProbeTokenView": "LF Probe Token View",
    "LF_ClipProbe": "LF CLIP Probe (All In One)",
}
