"""Training data for the DDPM: scikit-learn's digits (the default) or a folder with one subfolder per label.

Both come out as a `LabelledImages`: images in [-1, 1] shaped [N, C, size, size], integer labels and the class names
in index order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import host
from ..paths import dataset_folder, inside

logger = logging.getLogger("LongForm")

DIGITS = "digits"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
# The digits are split once, with a fixed seed, into a training part and a held-out part used to judge samples.
DIGITS_SPLIT_SEED = 0
DIGITS_HELD_OUT = 0.2
MAX_IMAGES = 100_000  # a folder dataset is held in memory whole


@dataclass
class LabelledImages:
    """Images in [-1, 1] ([N, C, H, W] float32), labels ([N] int64) and the class names in index order."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def digits_arrays(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as (pixels [N, 8, 8] in 0..16, labels [N]) for split 'train', 'test' or 'all'.

    The split is fixed (seeded permutation, 20% held out), so that a model trained on 'train' can be judged on 'test'.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(digits.target))
    cut = int(round(len(order) * (1 - DIGITS_HELD_OUT)))
    chosen = {"train": order[:cut], "test": order[cut:], "all": np.arange(len(order))}
    if split not in chosen:
        raise ValueError(f"split must be 'train', 'test' or 'all'; got '{split}'.")
    index = np.sort(chosen[split])
    return digits.images[index].astype(np.float32), digits.target[index].astype(np.int64)


def load_digits_dataset(image_size: int = 8, split: str = "train") -> LabelledImages:
    """The digits as a LabelledImages, upscaled (bilinear) when `image_size` is larger than 8."""
    pixels, labels = digits_arrays(split)
    images = torch.from_numpy(pixels)[:, None] / 16.0 * 2 - 1
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return LabelledImages(images.clamp(-1, 1), torch.from_numpy(labels), [str(i) for i in range(10)])


def resolve_folder(folder: str) -> Path:
    """A dataset folder by name, inside ComfyUI's input folder only (the path rule, core/paths.py)."""
    try:
        return dataset_folder(folder, "dataset")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"'dataset' folder {folder!r} was not found in ComfyUI's input folder. Put one subfolder per label, each "
            "holding images, in a folder there and give that folder's name (e.g. 'my_faces')."
        ) from None


def check_dataset(dataset: str, field: str = "dataset") -> str:
    """'digits', or the name of an existing folder in ComfyUI's input folder; ValueError / FileNotFoundError else."""
    name = str(dataset).strip()
    if name != DIGITS:
        resolve_folder(name)
    return name


def load_folder_dataset(folder: str, image_size: int) -> LabelledImages:
    """Every image under `folder/<label>/`, resized to image_size x image_size; labels are the subfolder names.

    The images are grayscale (1 channel) when every file is grayscale, else RGB.
    """
    root = resolve_folder(folder)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for class_dir in class_dirs:
        _check_inside(class_dir, root, folder)
    if not class_dirs:
        raise ValueError(
            f"dataset folder '{folder}' ({root}) has no subfolders. Make one subfolder per label (e.g. cat/, dog/) "
            "and put that label's images in it."
        )
    files: list[tuple[Path, int]] = []
    for index, class_dir in enumerate(class_dirs):
        found = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(
                f"dataset folder '{folder}': the label subfolder '{class_dir.name}' holds no images "
                f"({', '.join(IMAGE_SUFFIXES)}). Add images to it or remove it."
            )
        for path in found:
            _check_inside(path, root, folder)
        files.extend((path, index) for path in found)
        if len(files) > MAX_IMAGES:
            raise ValueError(f"dataset folder '{folder}' holds more than {MAX_IMAGES} images; train on a smaller set.")
    pictures = [_open_picture(path, folder) for path, _ in files]
    grayscale = all(picture.mode in ("1", "L", "LA", "I", "I;16") for picture in pictures)
    mode = "L" if grayscale else "RGB"
    arrays = [_pixels(picture, path, folder, mode, image_size) for picture, (path, _) in zip(pictures, files)]
    stacked = np.stack(arrays)
    stacked = stacked[:, None] if grayscale else stacked.transpose(0, 3, 1, 2)
    images = torch.from_numpy(stacked / 255.0 * 2 - 1).float().clamp(-1, 1)
    labels = torch.tensor([index for _, index in files], dtype=torch.long)
    logger.info("Loaded %d images in %d labels from %s.", len(labels), len(class_dirs), root)
    return LabelledImages(images, labels, [p.name for p in class_dirs])


def _check_inside(path: Path, root: Path, folder: str) -> None:
    """ValueError for a label folder or picture that, once its symlinks are resolved, lies outside the dataset folder
    (the folder itself is checked to lie in the input folder; its entries are checked here, one by one)."""
    if not inside(path, [root]):
        raise ValueError(f"dataset folder '{folder}': '{path.relative_to(root).as_posix()}' is a symlink leading "
                         "outside the dataset folder; only what lies inside it is read. Copy the pictures into the "
                         "folder instead of linking them.")


def _open_picture(path: Path, folder: str) -> Image.Image:
    """A dataset picture, or ValueError naming it (a file with a picture's suffix that is not one)."""
    host.check_interrupt()
    try:
        return Image.open(path)
    except (OSError, Image.DecompressionBombError) as error:  # UnidentifiedImageError is an OSError
        raise ValueError(f"dataset folder '{folder}': '{path.parent.name}/{path.name}' is not a picture Pillow can "
                         f"read ({error}). Remove or replace it.") from None


def _pixels(picture: Image.Image, path: Path, folder: str, mode: str, size: int) -> np.ndarray:
    """A picture decoded, converted and resized to size x size; ValueError naming it when it cannot be decoded."""
    try:
        return np.asarray(picture.convert(mode).resize((size, size), Image.BICUBIC), dtype=np.float32)
    except OSError as error:  # truncated or corrupt data shows only when the pixels are read
        raise ValueError(f"dataset folder '{folder}': '{path.parent.name}/{path.name}' could not be decoded "
                         f"({error}). Remove or replace it.") from None


def load_dataset(dataset: str, image_size: int) -> LabelledImages:
    """'digits' (the training split of scikit-learn's digits) or a folder of labelled subfolders."""
    if not dataset or not dataset.strip():
        raise ValueError("dataset is empty: give 'digits' or a folder with one subfolder per label.")
    if dataset.strip() == DIGITS:
        return load_digits_dataset(image_size, "train")
    return load_folder_dataset(dataset.strip(), image_size)
