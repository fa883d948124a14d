"""Plain collections of images, without annotations: a folder (searched recursively), a CSV/TSV list with an
image-path column, or files named one by one. What an unlabeled pool and the ``predict`` / ``search`` / ``tag``
commands read; :func:`read_pool` also takes webdataset shards (indexed in :mod:`ssclip.data.shards`).
:func:`read_image` opens any of these images, a shard member included."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ssclip.data.captions import _resolve_with_cwd_fallback, _separator_for, read_table
from ssclip.data.shards import ShardMember, is_shard_spec, shard_images
from ssclip.data.types import ImageRef, load_image

log = logging.getLogger(__name__)

# An image of a pool: a file, an in-memory picture or a member of a tar shard.
AnyImage = ImageRef | ShardMember

# What PIL reads and users keep their pictures in; checked on the lower-cased suffix.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")
TABLE_EXTENSIONS = (".csv", ".tsv")


def _natural_key(path: str) -> list[tuple[int, int | str]]:
    # Digit runs compare by value ("img2" < "img10"), as a file browser orders them.
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path) if part]


def find_images(folder: str | Path) -> list[Path]:
    """Every image file below ``folder``, in sub-folders too, in natural order of the relative path (digit runs
    by value: ``2.tif`` before ``10.tif``; hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: _natural_key(p.relative_to(folder).as_posix()))


def read_image_list(
    path: str | Path, image_key: str = "filepath", sep: str | None = None, image_root: str | Path | None = None
) -> list[Path]:
    """The image paths of a CSV/TSV table's ``image_key`` column (open_clip's ``--csv-img-key``), in row order.
    Relative paths are resolved against ``image_root`` (default: the table's folder, else the working folder)."""
    return [resolved for _, resolved in _image_list_rows(path, image_key, sep, image_root)]


def _image_list_rows(
    path: str | Path, image_key: str, sep: str | None, image_root: str | Path | None
) -> list[tuple[str, Path]]:
    """(path as written, resolved path) of every row of an image list."""
    path = Path(path)
    sep = _separator_for(path, sep)
    root = Path(image_root) if image_root is not None else path.parent
    out: list[tuple[str, Path]] = []
    for line, row in read_table(path, required=(image_key,), sep=sep):
        image = (row[image_key] or "").strip()
        if not image:
            raise ValueError(f"{path}, line {line}: column {image_key!r} is empty; expected an image path")
        out.append((image, _resolve_with_cwd_fallback(root, image)))
    return out


def image_paths(
    spec: str | Path | Sequence[str | Path], image_key: str = "filepath", sep: str | None = None
) -> list[Path]:
    """Resolve what a user names as "the images": a folder (recursive), a ``.csv`` / ``.tsv`` list, one image
    file, or a sequence of those. Raises a clear error for a path that does not exist or holds no image."""
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    out: list[Path] = []
    for item in specs:
        path = Path(item)
        if path.is_dir():
            found = find_images(path)
            if not found:
                raise ValueError(f"{path}: no image files in this folder or below ({', '.join(IMAGE_EXTENSIONS)})")
            out.extend(found)
        elif path.suffix.lower() in TABLE_EXTENSIONS and path.is_file():
            out.extend(read_image_list(path, image_key=image_key, sep=sep))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(
                f"{path}: no such file or folder; expected a folder of images, a CSV/TSV list or an image file"
            )
    return out


def read_image(image: AnyImage) -> Image.Image:
    """Open any image reference as RGB: a file or picture (:func:`ssclip.data.types.load_image`) or a shard
    member, whose bytes are decoded by PIL only (never unpickled). An unreadable member raises ``ValueError``
    naming the shard and the member."""
    if isinstance(image, ShardMember):
        try:
            with Image.open(io.BytesIO(image.read_bytes())) as picture:
                return load_image(picture)
        except (OSError, ValueError) as e:
            raise ValueError(f"{image}: not a readable image ({e})") from None
    return load_image(image)


@dataclass
class ImagePool:
    """Images without annotations (an unlabeled pool), each with a stable key (what its cached views and
    augmentations are seeded by): the path relative to the folder, the path as written in the list, or
    ``<shard>/<sample key>``."""

    images: list[AnyImage]
    keys: list[str]
    source: str

    def __post_init__(self) -> None:
        if len(self.images) != len(self.keys):
            raise ValueError(f"{self.source}: {len(self.images)} images but {len(self.keys)} keys")

    def __len__(self) -> int:
        return len(self.images)


def read_pool(
    spec: str | Path, image_key: str = "filepath", sep: str | None = None, index_dir: str | Path | None = None
) -> ImagePool:
    """An unlabeled pool: a folder (recursive), a CSV/TSV image list (``image_key`` column), webdataset shards
    (``'pool/{000000..000099}.tar'``; with ``index_dir``, their indexes are kept there between runs) or one
    image file."""
    path = Path(spec)
    if is_shard_spec(spec):
        images, keys = shard_images(spec, index_dir=index_dir)
        return ImagePool(list(images), keys, str(spec))
    if path.is_dir():
        found = image_paths(path)
        return ImagePool(list(found), [p.relative_to(path).as_posix() for p in found], str(spec))
    if path.suffix.lower() in TABLE_EXTENSIONS and path.is_file():
        rows = _image_list_rows(path, image_key, sep, None)
        if not rows:
            raise ValueError(f"{path}: the list holds no rows; expected one image path per row ({image_key!r})")
        return ImagePool([p for _, p in rows], [written for written, _ in rows], str(spec))
    return ImagePool(list(image_paths(path)), [path.name], str(spec))


def _identity(image: object) -> object:
    # abspath, not realpath: no file-system call per image of a pool of millions (symlinked copies are not matched)
    return os.path.abspath(image) if isinstance(image, str | Path) else image  # shard members compare by value


def pool_without(pool: ImagePool, annotated: Sequence[object], evaluated: Sequence[object] = ()) -> ImagePool:
    """``pool`` minus the images that are also annotated training images (they would be used twice) or
    evaluation images (training on them, even unlabeled, would evaluate on training images), each dropped with
    a warning. Files are matched by their absolute path, shard members by shard and offset."""
    train_ids = {_identity(im) for im in annotated if not isinstance(im, Image.Image)}
    eval_ids = {_identity(im) for im in evaluated if not isinstance(im, Image.Image)}
    keep, dropped = [], {"annotated training": [], "evaluation": []}
    for i, image in enumerate(pool.images):
        ident = _identity(image) if not isinstance(image, Image.Image) else None
        if ident is not None and ident in eval_ids:
            dropped["evaluation"].append(pool.keys[i])
        elif ident is not None and ident in train_ids:
            dropped["annotated training"].append(pool.keys[i])
        else:
            keep.append(i)
    for what, keys in dropped.items():
        if keys:
            log.warning(
                "%s: %d pool image(s) are also %s images (e.g. %s); left out of the unlabeled pool",
                pool.source,
                len(keys),
                what,
                keys[0],
            )
    if len(keep) == len(pool):
        return pool
    if not keep:
        raise ValueError(f"{pool.source}: every pool image is also an annotated or evaluation image; nothing is left")
    return ImagePool([pool.images[i] for i in keep], [pool.keys[i] for i in keep], pool.source)
