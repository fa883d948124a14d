"""Plain collections of images, without annotations: a folder (searched recursively), a CSV/TSV list with an
image-path column, or files named one by one. What an unlabeled pool and the ``predict`` / ``search`` / ``tag``
commands read; sharded pools (webdataset) are read elsewhere, as streams."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ssclip.data.captions import _resolve_with_cwd_fallback, _separator_for, read_table

# What PIL reads and users keep their pictures in; checked on the lower-cased suffix.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif")
TABLE_EXTENSIONS = (".csv", ".tsv")


def find_images(folder: str | Path) -> list[Path]:
    """Every image file below ``folder``, in sub-folders too, sorted by relative path (hidden files skipped)."""
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
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def read_image_list(
    path: str | Path, image_key: str = "filepath", sep: str | None = None, image_root: str | Path | None = None
) -> list[Path]:
    """The image paths of a CSV/TSV table's ``image_key`` column (open_clip's ``--csv-img-key``), in row order.
    Relative paths are resolved against ``image_root`` (default: the table's folder, else the working folder)."""
    path = Path(path)
    sep = _separator_for(path, sep)
    root = Path(image_root) if image_root is not None else path.parent
    out: list[Path] = []
    for line, row in read_table(path, required=(image_key,), sep=sep):
        image = (row[image_key] or "").strip()
        if not image:
            raise ValueError(f"{path}, line {line}: column {image_key!r} is empty; expected an image path")
        out.append(_resolve_with_cwd_fallback(root, image))
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
