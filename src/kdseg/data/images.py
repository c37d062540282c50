"""Reading and writing 2D images and masks.

Masks are binarised at 128 (JPEG masks carry compression noise around 0 and 255); writers produce
PNG files whose bytes depend only on the pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from kdseg.utils.errors import DataError
from kdseg.utils.io import write_bytes

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "MASK_THRESHOLD",
    "binarise_mask",
    "check_image_pixels",
    "read_rgb",
    "read_mask",
    "png_bytes",
    "write_png",
]

MASK_THRESHOLD = 128
#: default limit of an image's pixels, checked from its header before it is decoded: 12 times the largest
#: polyp frame (1920x1080), below Pillow's own decompression-bomb warning (89 million)
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000


def check_image_pixels(image: Image.Image, path: str | Path, max_pixels: int | None) -> None:
    """Refuse an opened (not yet decoded) image with more than ``max_pixels`` pixels; None checks nothing.

    Raises:
        DataError: naming the file, its size and the limit.
    """
    if max_pixels is not None and image.width * image.height > max_pixels:
        raise DataError(
            f"image {path} is {image.width}x{image.height} = {image.width * image.height / 1e6:.1f} million pixels, over the limit of"
            f" {max_pixels / 1e6:g} million (`limits: {{max_image_pixels: ...}}` of the data set); it was not decoded."
            " Downscale it, or raise the limit if the machine has the memory (decoding takes about 15 bytes per pixel)."
        )


def read_rgb(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as ``uint8`` array of shape (H, W, 3).

    Args:
        path: image file.
        max_pixels: refuse an image with more pixels, from its header, before decoding it. Defaults to None
            (no limit: the stages after ingest read images that ingest checked).

    Raises:
        DataError: the file is missing, cannot be decoded or is over ``max_pixels``.
    """
    try:
        with Image.open(path) as img:
            check_image_pixels(img, path, max_pixels)
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"image {path} cannot be read: {err}") from None


def binarise_mask(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """Threshold a grey mask at 128; return (mask in {0, 1} as uint8, number of pixels that were not 0 or 255)."""
    fixed = int(np.count_nonzero((gray != 0) & (gray != 255)))
    return (gray >= MASK_THRESHOLD).astype(np.uint8), fixed


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask as ``uint8`` array (H, W) with values in {0, 1} (threshold 128 on the grey level)."""
    try:
        with Image.open(path) as img:
            gray = np.asarray(img.convert("L"))
    except FileNotFoundError:
        raise DataError(f"mask {path} does not exist") from None
    except (OSError, ValueError) as err:
        raise DataError(f"mask {path} cannot be read: {err}") from None
    return binarise_mask(gray)[0]


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) or (H, W, 3) array as PNG with fixed settings (no metadata)."""
    if array.dtype != np.uint8:
        raise ValueError(f"png_bytes expects uint8, got {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as PNG atomically."""
    write_bytes(path, png_bytes(array))
