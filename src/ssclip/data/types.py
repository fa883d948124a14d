"""Plain records shared by every reader: what a dataset is, independent of the file format it came from."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# An image is either a file on disk or an in-memory picture (the embedded synthetic set).
ImageRef = Path | Image.Image


@dataclass(frozen=True)
class ImageCaptions:
    """One image with all of its captions (UCM-captions has 5 per image)."""

    image: ImageRef
    captions: tuple[str, ...]
    split: str | None = None
    label: int | None = None  # scene class index, when the source knows it
    key: str = ""  # stable identifier (file name), used for caching and reports


@dataclass
class ClassificationSet:
    """Single-label images, e.g. a class-per-folder tree, for zero-shot classification."""

    images: list[ImageRef]
    targets: list[int]
    classnames: list[str]  # readable names, e.g. "baseball diamond"
    keys: list[str] = field(default_factory=list)


@dataclass
class MultiLabelSet:
    """Images with several labels each: ``labels`` is an (N, C) 0/1 array in ``classnames`` order."""

    images: list[ImageRef]
    labels: np.ndarray
    classnames: list[str]
    keys: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.uint8)
        if self.labels.shape != (len(self.images), len(self.classnames)):
            raise ValueError(
                f"labels have shape {self.labels.shape}, expected ({len(self.images)}, {len(self.classnames)})"
            )


class ImageReadError(ValueError):
    """An image file that cannot be read as a picture: the message names the file and the reason (missing,
    zero bytes, not an image, truncated, unsupported layout). A ``ValueError``, so the command line reports it
    as bad input; readers of large unlabeled pools catch it to skip the file and count it."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: cannot read image: {reason}")
        self.path, self.reason = path, reason


# Pillow modes that are 8 bits per channel: Pillow's own convert("RGB") is right for them.
_EIGHT_BIT_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}
)
_TIFF_SUFFIXES = (".tif", ".tiff")
_warned_band_counts: set[int] = set()


def load_image(image: ImageRef) -> Image.Image:
    """Open an image reference as an 8-bit RGB picture, or raise :class:`ImageReadError` naming the file.

    - 8-bit images (JPEG, PNG, 8-bit TIFF; grey, palette, RGB, RGBA) go through Pillow's ``convert("RGB")``.
    - High-bit-depth and float images (16-bit PNG, 16/32-bit integer or float TIFF) are scaled to 0-255 by a
      **per-image min-max stretch** over all bands together (non-finite values, e.g. NaN no-data, are ignored
      and become 0). Not by the dtype's range: remote-sensing products rarely fill it (12-bit sensors in 16-bit
      containers, reflectance in [0, 1] or scaled by 10000), so dividing by 65535 would give near-black
      pictures, and a float image has no fixed range at all; a stretch is what an image viewer shows, and CLIP
      was trained on displayable pictures. One stretch for all bands keeps their colour balance.
    - TIFFs that Pillow cannot read faithfully (more than 8 bits per sample, more than four bands, bands stored
      as pages) are read with tifffile. One band is grey; two or more than three bands are read as their first
      three (a 4-band RGB + near-infrared image as its RGB), with a warning once per band count.
    """
    if isinstance(image, Image.Image):
        return _picture_to_rgb(image, "in-memory image")
    path = Path(image)
    if not path.is_file():
        raise ImageReadError(path, "file not found" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            if path.suffix.lower() in _TIFF_SUFFIXES and _needs_tifffile(im):
                return _array_to_rgb(_read_tiff(path), path)
            im.load()  # decode now: a truncated file fails here, inside this try
            return _picture_to_rgb(im, path)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        if path.suffix.lower() in _TIFF_SUFFIXES:  # e.g. a float RGB TIFF, which Pillow cannot identify
            return _array_to_rgb(_read_tiff(path), path)
        raise ImageReadError(path, "not an image file Pillow can identify (wrong extension or corrupt)") from None
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow's decoders: truncated or corrupt data
        raise ImageReadError(path, f"corrupt or truncated image data ({e})") from None


def _needs_tifffile(im: Image.Image) -> bool:
    tags = getattr(im, "tag_v2", {})
    bits = tags.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    samples = int(tags.get(277, 1))
    return any(b != 8 for b in bits) or samples > 4 or getattr(im, "n_frames", 1) > 1


def _read_tiff(path: Path) -> np.ndarray:
    """The first series of a TIFF as (H, W) or (H, W, bands), bands last whatever the storage order."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            array, axes = series.asarray(), series.axes
    except Exception as e:  # tifffile raises many types for corrupt files and unsupported compressions
        raise ImageReadError(path, f"TIFF not readable ({type(e).__name__}: {e})") from None
    spatial = [axes.index("Y"), axes.index("X")] if "Y" in axes and "X" in axes else []
    if len(spatial) != 2:
        raise ImageReadError(path, f"TIFF axes {axes!r}: expected a picture with Y and X axes")
    others = [i for i in range(array.ndim) if i not in spatial]
    array = np.transpose(array, [*spatial, *others])
    if array.ndim > 3:  # e.g. time x bands: keep the first of every extra axis but the last
        array = array.reshape(array.shape[0], array.shape[1], -1, array.shape[-1])[:, :, 0]
    return array


def _picture_to_rgb(im: Image.Image, where: object) -> Image.Image:
    if im.mode in _EIGHT_BIT_MODES:
        if im.mode in ("RGBA", "RGBX", "CMYK") and getattr(im, "format", None) == "TIFF":
            _warn_bands(4, where)
        return im.convert("RGB")
    return _array_to_rgb(np.asarray(im), where)


def _array_to_rgb(array: np.ndarray, where: object) -> Image.Image:
    """A (H, W) or (H, W, bands) array of any numeric dtype as an 8-bit RGB picture (see :func:`load_image`)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(where, f"array of shape {array.shape}: expected (height, width[, bands])")
    bands = array.shape[2]
    if bands not in (1, 3):
        _warn_bands(bands, where)
    array = np.repeat(array[:, :, :1], 3, axis=2) if bands < 3 else array[:, :, :3]
    if array.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(array), "RGB")
    if array.dtype == bool:
        return Image.fromarray(array.astype(np.uint8) * 255, "RGB")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ImageReadError(where, f"unsupported pixel type {array.dtype}")
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise ImageReadError(where, "no finite pixel value (all NaN or infinite)")
    low, high = values[finite].min(), values[finite].max()
    scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
    scaled = np.where(finite, scaled, 0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "RGB")


def _warn_bands(bands: int, where: object) -> None:
    if bands not in _warned_band_counts:
        _warned_band_counts.add(bands)
        what = "first band as grey" if bands < 3 else "first three bands as RGB"
        warnings.warn(f"{where}: image with {bands} bands, read as its {what} (shown once)", stacklevel=3)


def check_images_readable(images: Sequence[ImageRef], source: str, listed: int = 5) -> None:
    """Decode every image once, so that an unreadable file (zero bytes, not an image, truncated) stops a run
    before any model loads rather than midway through a feature cache; raises one ``ValueError`` listing (up to
    ``listed`` of) them with their reasons."""
    from ssclip.data.images import read_image  # files, pictures and shard members alike

    bad = []
    for image in images:
        if isinstance(image, Image.Image):
            continue
        try:
            read_image(image)
        except (OSError, ValueError) as e:
            bad.append(str(e))
    if bad:
        more = f"\n  ... and {len(bad) - listed} more" if len(bad) > listed else ""
        raise ValueError(f"{source}: {len(bad)} unreadable image(s):\n  " + "\n  ".join(bad[:listed]) + more)
