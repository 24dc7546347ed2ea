"""Conversions between ComfyUI IMAGE tensors ([B, H, W, C] float in 0..1, on the CPU), PIL images and plots."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def check_image_batch(images: torch.Tensor, field: str) -> torch.Tensor:
    """Validate an IMAGE batch and return it as float32 [B, H, W, 3]; the error names `field`."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"'{field}' must be an IMAGE batch of shape [batch, height, width, channels]; got {shape}. "
            "Connect an image output (Load Image, VAE Decode, ...) to it."
        )
    if images.shape[0] == 0:
        raise ValueError(f"'{field}' is an empty batch: connect at least one image.")
    images = images.float()
    if images.shape[-1] == 1:
        images = images.expand(-1, -1, -1, 3)
    return images[..., :3]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """An IMAGE batch [B, H, W, C] in 0..1 as uint8 RGB frames [B, H, W, 3] (grey repeated, alpha dropped)."""
    array = images.detach().float().clamp(0, 1).cpu().numpy()[..., :3]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return (array * 255.0).round().astype(np.uint8)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """An IMAGE batch as a list of RGB PIL images."""
    return [Image.fromarray(frame) for frame in to_uint8(images)]


def from_pil(pictures: list[Image.Image] | Image.Image) -> torch.Tensor:
    """PIL images of one size as an IMAGE batch."""
    if isinstance(pictures, Image.Image):
        pictures = [pictures]
    arrays = [np.asarray(p.convert("RGB"), dtype=np.float32) / 255.0 for p in pictures]
    return torch.from_numpy(np.stack(arrays))


def font(size: int = 14) -> ImageFont.ImageFont:
    """A TrueType font when one is installed, else PIL's built-in one, at roughly `size` pixels."""
    for name in ("DejaVuSans.ttf", "Arial.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def labelled_grid(
    pictures: list[Image.Image], labels: list[str] | None = None, columns: int = 8, cell: int | None = None
) -> Image.Image:
    """Pictures in a grid, each with its label written underneath; `cell` rescales them (nearest, for tiny images)."""
    if not pictures:
        raise ValueError("labelled_grid needs at least one picture.")
    width, height = (cell, cell) if cell else pictures[0].size
    label_height = 18 if labels else 0
    columns = max(1, min(columns, len(pictures)))
    rows = (len(pictures) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width, rows * (height + label_height)), "white")
    draw = ImageDraw.Draw(sheet)
    text_font = font(12)
    for index, picture in enumerate(pictures):
        x, y = (index % columns) * width, (index // columns) * (height + label_height)
        sheet.paste(picture.convert("RGB").resize((width, height), Image.NEAREST), (x, y))
        if labels:
            draw.text((x + 2, y + height + 2), str(labels[index])[: max(4, width // 7)], fill="black", font=text_font)
    return sheet


def figure_to_pil(figure) -> Image.Image:
    """Render a matplotlib figure to a PIL image and close it."""
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
    plt.close(figure)
    return picture


def new_figure(width: float = 8, height: float = 4.5):
    """A matplotlib figure on the non-interactive Agg backend (safe in a server with no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), dpi=100)
