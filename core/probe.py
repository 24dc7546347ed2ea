"""The similarity probe: cosine matrices between embeddings of one space, CLIP probabilities, tables and heatmaps.

The reusable entry points (other node families measure their frames with them):

    encoder = load_encoder("clip", "clip-vit-base-patch32.safetensors")
    result = similarity(encoder.encode_images(frames), encoder.encode_texts(["a cat", "a dog"]))
    result.matrix, result.probabilities, result.best_labels, result.table(), result.heatmap()
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from PIL import Image

from . import images as image_utils
from .text import shorten
from .encoders import (  # noqa: F401  (re-exported: the probe's public API)
    BERT_POOLINGS,
    ENCODER_FOLDER,
    KINDS,
    TOKENIZERS,
    Embeddings,
    Encoder,
    TokenView,
    check_texts,
    clear_cache,
    load_tokenizer,
    load_encoder,
    parse_lines,
    token_view,
)

_LABEL_WIDTH = 32  # labels on the heatmap and row names
_LEGEND_WIDTH = 80  # texts in the table's legend and the best-label lines


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of `a` [N, D] with every row of `b` [M, D]: an [N, M] float32 matrix."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"cosine_matrix needs two [rows, dim] matrices of the same dim; got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    a = torch.nn.functional.normalize(a.float(), dim=1)
    b = torch.nn.functional.normalize(b.float(), dim=1)
    return a @ b.T


def check_same_space(a: Embeddings, b: Embeddings) -> None:
    """Raise a ValueError explaining why vectors from two different spaces cannot be compared."""
    if a.space != b.space:
        raise ValueError(
            f"Cannot compare {a.kind} vectors from space '{a.space}' with {b.kind} vectors from space '{b.space}': "
            "vectors are comparable only when one model wrote them into one shared space. Encode both inputs with the "
            "same encoder (CLIP encodes images and texts into one space; ResNet-50 and BERT each have their own)."
        )


@dataclass
class SimilarityResult:
    """Cosine similarities between rows (`a`) and columns (`b`), in input order, with what the nodes show.

    `probabilities` is the softmax over columns of `logit_scale * cosine` (CLIP's zero-shot probabilities) when the
    space has a logit scale, else None. `best` holds, per row, the index of the most similar column; when `a` and
    `b` are the same set, a row's own column is skipped (it would always win with 1.0).
    """

    matrix: torch.Tensor
    probabilities: torch.Tensor | None
    a: Embeddings
    b: Embeddings
    best: list[int]
    self_similarity: bool

    @property
    def best_labels(self) -> list[str]:
        """The label of each row's most similar column."""
        return [self.b.labels[j] if j >= 0 else "" for j in self.best]

    def best_labels_text(self) -> str:
        """One line per row: 'row label: best column label (cosine)'."""
        lines = []
        for i, j in enumerate(self.best):
            if j < 0:
                lines.append(f"{self.a.labels[i]}: (no other item)")
                continue
            extra = f", p={self.probabilities[i, j]:.3f}" if self.probabilities is not None else ""
            lines.append(f"{shorten(self.a.labels[i], _LEGEND_WIDTH)}: {shorten(self.b.labels[j], _LEGEND_WIDTH)} (cos={self.matrix[i, j]:.4f}{extra})")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The matrix and its labels as JSON: rows, columns, cosine, probabilities, best, space, truncation."""
        data = {
            "space": self.a.space,
            "rows": {"kind": self.a.kind, "labels": self.a.labels},
            "columns": {"kind": self.b.kind, "labels": self.b.labels},
            "cosine": [[round(float(v), 6) for v in row] for row in self.matrix],
            "logit_scale": self.a.logit_scale if self.probabilities is not None else None,
            "probabilities": (
                [[round(float(v), 6) for v in row] for row in self.probabilities]
                if self.probabilities is not None
                else None
            ),
            "best": [self.b.labels[j] if j >= 0 else None for j in self.best],
            "truncated": {
                "rows": [self.a.labels[i] for i, cut in enumerate(self.a.truncated) if cut],
                "columns": [self.b.labels[j] for j, cut in enumerate(self.b.truncated) if cut],
            },
        }
        return json.dumps(data, indent=2)

    def table(self) -> str:
        """A readable fixed-width table: a legend of the columns, then one row per input with scores and best."""
        columns = [f"[{j + 1}]" for j in range(len(self.b))]
        lines = [f"Cosine similarity in space '{self.a.space}' ({self.a.kind}s x {self.b.kind}s)."]
        if self.probabilities is not None:
            lines.append(f"In brackets: softmax over {self.b.kind}s of {self.a.logit_scale:.2f} x cosine.")
        lines.append("Columns:")
        for j, label in enumerate(self.b.labels):
            cut = f"  (TRUNCATED to {self.b.max_tokens} tokens from {self.b.token_counts[j]})" if self._cut(self.b, j) else ""
            lines.append(f"  {columns[j]} {shorten(label, _LEGEND_WIDTH)}{cut}")
        width = max(len(c) for c in columns)
        cell = max(width, 15 if self.probabilities is not None else 7)
        row_names = [shorten(label, _LABEL_WIDTH) + (" (TRUNCATED)" if self._cut(self.a, i) else "") for i, label in enumerate(self.a.labels)]
        name_width = max(len(name) for name in row_names)
        lines.append(" " * name_width + " | " + " ".join(c.rjust(cell) for c in columns) + " | best")
        for i, name in enumerate(row_names):
            cells = []
            for j in range(len(self.b)):
                text = f"{self.matrix[i, j]:.4f}"
                if self.probabilities is not None:
                    text += f" ({self.probabilities[i, j] * 100:5.1f}%)"
                cells.append(text.rjust(cell))
            best = columns[self.best[i]] if self.best[i] >= 0 else "-"
            lines.append(name.ljust(name_width) + " | " + " ".join(cells) + " | " + best)
        return "\n".join(lines)

    def heatmap(self) -> Image.Image:
        """The matrix as a heatmap with its labels and values written on it (matplotlib, rendered to PIL)."""
        rows, cols = self.matrix.shape
        figure = image_utils.new_figure(width=min(4 + 0.9 * cols, 24), height=min(2.2 + 0.45 * rows, 24))
        axes = figure.add_subplot(1, 1, 1)
        shown = self.matrix.numpy()
        picture = axes.imshow(shown, cmap="viridis", aspect="auto")
        figure.colorbar(picture, ax=axes, label="cosine similarity")
        axes.set_xticks(range(cols), [shorten(label, _LABEL_WIDTH) for label in self.b.labels], rotation=35, ha="right")
        axes.set_yticks(range(rows), [shorten(label, _LABEL_WIDTH) for label in self.a.labels])
        low, high = float(shown.min()), float(shown.max())
        middle = (low + high) / 2
        for i in range(rows):
            for j in range(cols):
                text = f"{shown[i, j]:.2f}"
                if self.probabilities is not None:
                    text += f"\n{self.probabilities[i, j] * 100:.0f}%"
                weight = "bold" if self.best[i] == j else "normal"
                colour = "black" if shown[i, j] > middle else "white"
                axes.text(j, i, text, ha="center", va="center", color=colour, fontsize=8, fontweight=weight)
        axes.set_title(f"{self.a.kind}s x {self.b.kind}s, {self.a.space}", fontsize=9)
        figure.tight_layout()
        return image_utils.figure_to_pil(figure)

    def heatmap_image(self) -> torch.Tensor:
        """The heatmap as a ComfyUI IMAGE batch of one."""
        return image_utils.from_pil(self.heatmap())

    @staticmethod
    def _cut(embeddings: Embeddings, index: int) -> bool:
        return bool(embeddings.truncated) and embeddings.truncated[index]


def similarity(a: Embeddings, b: Embeddings | None = None) -> SimilarityResult:
    """Compare `a` with `b` (or with itself when `b` is None): cosine matrix, CLIP probabilities, best column per row.

    Probabilities are computed for image-to-text comparisons in a space with a logit scale (CLIP), as CLIP's
    zero-shot classifier does; other pairs get cosines only.
    """
    self_similarity = b is None or b is a
    b = a if b is None else b
    check_same_space(a, b)
    matrix = cosine_matrix(a.vectors, b.vectors)
    probabilities = None
    if a.logit_scale is not None and a.kind == "image" and b.kind == "text":
        probabilities = torch.softmax(a.logit_scale * matrix, dim=1)
    ranked = matrix.clone()
    if self_similarity:
        ranked.fill_diagonal_(float("-inf"))
    best = [int(j) if torch.isfinite(row[j]) else -1 for row, j in zip(ranked, ranked.argmax(dim=1))]
    return SimilarityResult(matrix, probabilities, a, b, best, self_similarity)


POOLINGS = ("auto",) + BERT_POOLINGS


def encode_texts(
    encoder: Encoder, texts: list[str], truncate: bool = False, pooling: str = "auto", batch_size: int = 32
) -> Embeddings:
    """Encode `texts` with any text encoder. `pooling` "auto" is the encoder's own sentence vector (CLIP: its
    projected end-of-text token; BERT: the mean of its token vectors); "mean" and "cls" choose BERT's explicitly.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"'pooling' must be one of {', '.join(POOLINGS)}; got '{pooling}'.")
    if encoder.kind == "bert":
        return encoder.encode_texts(
            texts, batch_size=batch_size, truncate=truncate, pooling="mean" if pooling == "auto" else pooling
        )
    if pooling != "auto":
        raise ValueError(
            f"'pooling' = '{pooling}' applies to BERT encoders only; the {encoder.kind} encoder '{encoder.name}' "
            "has its own sentence vector. Set pooling to 'auto'."
        )
    return encoder.encode_texts(texts, batch_size=batch_size, truncate=truncate)


def format_token_view(view: TokenView) -> str:
    """A token view as text: count against the limit, then one 'position  id  token' line per token."""
    head = f"{view.tokenizer} tokenizer: {view.count} tokens (limit {view.max_tokens}, special tokens included)"
    if view.truncated:
        head += f": TRUNCATED, the encoder sees only the first {view.max_tokens}; the rest is cut"
    lines = [head + ".", f"text: {view.text}"]
    for position, (token_id, token) in enumerate(zip(view.ids, view.tokens)):
        cut = "  <- cut" if position >= view.max_tokens else ""
        lines.append(f"{position:4d}  {token_id:6d}  {token}{cut}")
    return "\n".join(lines)
