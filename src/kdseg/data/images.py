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

__all__ = ["MASK_THRESHOLD", "binarise_mask", "read_rgb", "read_mask", "png_bytes", "write_png"]

MASK_THRESHOLD = 128


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image as ``uint8`` array of shape (H, W, 3)."""
    try:
        with Image.open(path) as img:
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
