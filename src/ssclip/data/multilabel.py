"""Multi-label readers for the annotation files users download: UC Merced, COCO, VOC, NUS-WIDE, CSV.

Every reader returns a :class:`MultiLabelSet` (an (N, C) 0/1 matrix in ``classnames`` order) with ``keys``
and ``splits`` aligned to the images (``None`` where the source does not say). Image files are checked at
read time and all missing ones reported together. Errors name the file, the line and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .captions import check_images_exist, read_table, utf8_errors
from .classfolders import readable_class_name
from .types import MultiLabelSet

__all__ = [
    "read_coco_instances",
    "read_multilabel_csv",
    "read_nuswide",
    "read_ucm_multilabel",
    "read_voc",
]

_UCM_IMAGE_EXTENSIONS = (".jpg", ".tif", ".png")
_TRAILING_DIGITS = re.compile(r"\d+$")


def _text_lines(path: Path) -> list[str]:
    """Lines without their ending (``\\n`` or the CRLF of Windows-made files)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    with open(path, encoding="utf-8-sig") as f, utf8_errors(path):
        return f.read().splitlines()


def _binary(value: str, path: Path, line: int, field: str) -> int:
    if value not in ("0", "1"):
        raise ValueError(f"{path}, line {line}, field {field!r}: expected 0 or 1, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------------------
# UC Merced multi-labels (Chaudhuri et al. 2018)


def read_ucm_multilabel(
    txt_path: str | Path, image_root: str | Path, extensions: Sequence[str] = _UCM_IMAGE_EXTENSIONS
) -> MultiLabelSet:
    """Read ``LandUse_Multilabeled.txt``: tab-separated, header ``IMAGE\\LABEL airplane bare-soil ...``.

    Rows are keyed by base name (``agricultural00``); the image is found at
    ``image_root/Images/<class>/<name><ext>`` (or ``image_root/<class>/<name><ext>``), where the class is the
    name without its trailing digits and ``ext`` the first of ``extensions`` that exists. Label names are made
    readable ("bare-soil" -> "bare soil"). Images keep the file's row order; ``splits`` are ``None``.
    """
    txt_path, image_root = Path(txt_path), Path(image_root)
    lines = _text_lines(txt_path)
    if not lines or not lines[0].strip():
        raise ValueError(f"{txt_path}, line 1: expected a header 'IMAGE\\LABEL <label> <label> ...'")
    header = lines[0].split("\t")
    if len(header) < 2:
        raise ValueError(f"{txt_path}, line 1: expected a header 'IMAGE\\LABEL<TAB><label>...', got {lines[0]!r}")
    label_names = [name.strip() for name in header[1:]]

    names: list[str] = []
    rows: list[list[int]] = []
    seen: dict[str, int] = {}
    for line_no, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        cells = text.split("\t")
        name = cells[0].strip()
        if len(cells) != len(header):
            raise ValueError(f"{txt_path}, line {line_no}: {len(cells)} fields, expected {len(header)} (tab-separated)")
        if name in seen:
            raise ValueError(f"{txt_path}, line {line_no}: image {name!r} already listed on line {seen[name]}")
        seen[name] = line_no
        names.append(name)
        rows.append(
            [_binary(v.strip(), txt_path, line_no, label) for v, label in zip(cells[1:], label_names, strict=True)]
        )

    images, missing = [], []
    for name in names:
        folder = _TRAILING_DIGITS.sub("", name)
        candidates = [
            base / folder / f"{name}{ext}" for base in (image_root / "Images", image_root) for ext in extensions
        ]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            missing.append(
                f"line {seen[name]} {name!r}: tried {image_root / 'Images' / folder / name}"
                f"{{{','.join(extensions)}}} and {image_root / folder / name}.*"
            )
            found = candidates[0]
        images.append(found)
    if missing:
        raise FileNotFoundError(
            f"{txt_path}: {len(missing)} image files not found under {image_root}:\n  " + "\n  ".join(missing[:5])
        )
    labels = np.array(rows, dtype=np.uint8).reshape(len(names), len(label_names))
    classnames = [readable_class_name(name) for name in label_names]
    return MultiLabelSet(images=images, labels=labels, classnames=classnames, keys=names, splits=[None] * len(names))


# ----------------------------------------------------------------------------------------------------------
# COCO instances


def read_coco_instances(json_path: str | Path, image_root: str | Path, check_images: bool = True) -> MultiLabelSet:
    """Read a COCO ``instances_<split>.json``: one label per category present among an image's annotations.

    Classes are the categories sorted by id (80 for COCO 2014/2017, names as in the file); only images with
    at least one annotation are kept (the usual multi-label COCO protocol), in the file's ``images`` order.
    Images are ``image_root/<file_name>``; ``keys`` are the file names; ``splits`` come from the file name
    (``instances_val2014.json`` -> ``"val2014"``), else ``None``.
    """
    json_path, image_root = Path(json_path), Path(image_root)
    if not json_path.is_file():
        raise FileNotFoundError(f"{json_path}: annotation file not found")
    try:
        with open(json_path, encoding="utf-8") as f, utf8_errors(json_path):
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path}: not valid JSON (line {err.lineno}: {err.msg})") from err
    for field in ("images", "annotations", "categories"):
        if not isinstance(data.get(field) if isinstance(data, dict) else None, list):
            raise ValueError(f"{json_path}: expected a COCO instances file with a list field {field!r}")

    for field, needed in (("categories", ("id", "name")), ("annotations", ()), ("images", ("id", "file_name"))):
        for index, entry in enumerate(data[field]):
            absent = [k for k in needed if not isinstance(entry, dict) or k not in entry]
            if not isinstance(entry, dict) or absent:
                raise ValueError(f"{json_path}, {field}[{index}]: expected an object with fields {list(needed)}")
    for index, category in enumerate(data["categories"]):
        if not isinstance(category["id"], int) or isinstance(category["id"], bool):
            raise ValueError(f"{json_path}, categories[{index}]: field 'id' = {category['id']!r}, expected an integer")
    if len({c["id"] for c in data["categories"]}) != len(data["categories"]):
        raise ValueError(f"{json_path}, field 'categories': category ids appear more than once")
    categories = sorted(data["categories"], key=lambda c: c["id"])
    column = {c["id"]: i for i, c in enumerate(categories)}
    by_image: dict[int, set[int]] = {}
    for index, annotation in enumerate(data["annotations"]):
        category, image_id = annotation.get("category_id"), annotation.get("image_id")
        if category not in column:
            raise ValueError(
                f"{json_path}, annotations[{index}]: field 'category_id' = {category!r} is not a category id"
            )
        by_image.setdefault(image_id, set()).add(column[category])

    split = re.sub(r"^instances_", "", json_path.stem) if json_path.stem.startswith("instances_") else None
    images, keys, rows = [], [], []
    for entry in data["images"]:
        if entry.get("id") not in by_image:
            continue
        keys.append(str(entry["file_name"]))
        images.append(image_root / str(entry["file_name"]))
        row = np.zeros(len(categories), dtype=np.uint8)
        row[sorted(by_image[entry["id"]])] = 1
        rows.append(row)
    if check_images:
        check_images_exist(images, [f"image {key!r}" for key in keys], str(json_path))
    labels = np.stack(rows) if rows else np.zeros((0, len(categories)), dtype=np.uint8)
    classnames = [str(c["name"]) for c in categories]
    return MultiLabelSet(images=images, labels=labels, classnames=classnames, keys=keys, splits=[split] * len(keys))


# ----------------------------------------------------------------------------------------------------------
# Pascal VOC


def read_voc(root: str | Path, split: str = "train", check_images: bool = True) -> MultiLabelSet:
    """Read Pascal VOC classification labels from ``root/ImageSets/Main/<class>_<split>.txt``.

    ``root`` is e.g. ``VOCdevkit/VOC2007``. Each class file has lines ``<image id> <1|-1|0>``: 1 present,
    -1 absent, 0 "difficult" (present only in hard-to-recognise instances). **0 is read as negative**, the
    common multi-label convention, so difficult-only objects never count as positives. Classes are the sorted
    class-file names made readable ("diningtable" -> "dining table"); images follow ``<split>.txt`` when it
    exists, else the first class file; images are ``root/JPEGImages/<id>.jpg``.
    """
    root = Path(root)
    main = root / "ImageSets" / "Main"
    suffix = f"_{split}.txt"
    class_files = sorted(p for p in main.glob(f"*{suffix}") if p.name != f"{split}.txt") if main.is_dir() else []
    if not class_files:
        raise FileNotFoundError(f"{main}: no '<class>{suffix}' files found (is root the VOC20xx folder?)")
    raw_names = [p.name[: -len(suffix)] for p in class_files]

    order_file = main / f"{split}.txt"
    ids: list[str] | None = None
    if order_file.is_file():
        ids = [line.split()[0] for line in _text_lines(order_file) if line.strip()]
    columns: list[dict[str, int]] = []
    for path in class_files:
        values: dict[str, int] = {}
        for line_no, text in enumerate(_text_lines(path), start=1):
            if not text.strip():
                continue
            cells = text.split()
            if len(cells) != 2 or cells[1] not in ("1", "-1", "0"):
                raise ValueError(f"{path}, line {line_no}: expected '<image id> <1|-1|0>', got {text!r}")
            values[cells[0]] = 1 if cells[1] == "1" else 0
        if ids is None:
            ids = list(values)
        absent = [i for i in ids if i not in values]
        if absent or len(values) != len(ids):
            detail = f"image {absent[0]!r} is missing" if absent else f"{len(values)} images, expected {len(ids)}"
            raise ValueError(f"{path}: does not list the same images as {order_file.name} ({detail})")
        columns.append(values)

    assert ids is not None
    labels = np.array([[col[i] for col in columns] for i in ids], dtype=np.uint8).reshape(len(ids), len(columns))
    images = [root / "JPEGImages" / f"{i}.jpg" for i in ids]
    if check_images:
        check_images_exist(images, [f"image {i!r}" for i in ids], str(main))
    classnames = [readable_class_name(name) for name in raw_names]
    return MultiLabelSet(images=images, labels=labels, classnames=classnames, keys=ids, splits=[split] * len(ids))


# ----------------------------------------------------------------------------------------------------------
# NUS-WIDE


def read_nuswide(
    image_list: str | Path,
    labels: str | Path,
    image_root: str | Path,
    concepts: Sequence[str] | str | Path | None = None,
    label_suffix: str = "",
    drop_unlabeled: bool = False,
    split: str | None = None,
    check_images: bool = True,
) -> MultiLabelSet:
    """Read NUS-WIDE as released: an image list plus one 0/1 file per concept, line-aligned with it.

    Args:
        image_list: ``ImageList/Imagelist.txt`` (or ``TrainImagelist.txt`` / ``TestImagelist.txt``); lines are
            Windows paths such as ``actor\\0001_2124494179.jpg``, relative to ``image_root`` (the ``Flickr``
            folder). A leading ``...\\Flickr\\`` prefix is dropped.
        labels: either the folder of ``Labels_<concept><label_suffix>.txt`` files (``Groundtruth/AllLabels``
            with ``label_suffix=""``, where ``*_Train`` / ``*_Test`` files are ignored, or
            ``Groundtruth/TrainTestLabels`` with ``"_Train"`` / ``"_Test"``), or a single whitespace-separated
            N x C 0/1 matrix file (e.g. ``AllLabels81.txt``), which needs ``concepts``.
        concepts: concept names in column order, or a file with one per line (``Concepts81.txt``). With a
            label folder and ``concepts=None``, the concepts are the sorted ``Labels_*`` file names.
        drop_unlabeled: drop images with no positive concept (about a fifth of NUS-WIDE; most multi-label
            papers drop them). Kept by default so rows stay aligned with the official lists.
        split: recorded in ``splits`` for every image (e.g. ``"train"``).
    """
    image_list, labels, image_root = Path(image_list), Path(labels), Path(image_root)
    relative = [_nuswide_relative(line) for line in _text_lines(image_list) if line.strip()]
    names = _read_concepts(concepts) if concepts is not None else None

    if labels.is_dir():
        if names is None:
            names = _discover_concepts(labels, label_suffix)
        matrix = np.zeros((len(relative), len(names)), dtype=np.uint8)
        for column, name in enumerate(names):
            path = labels / f"Labels_{name}{label_suffix}.txt"
            values = [line.strip() for line in _text_lines(path) if line.strip()]
            if len(values) != len(relative):
                raise ValueError(f"{path}: {len(values)} label lines but {image_list} lists {len(relative)} images")
            matrix[:, column] = [_binary(v, path, i + 1, name) for i, v in enumerate(values)]
    else:
        if names is None:
            raise ValueError(f"{labels}: a label matrix file needs the concept names (pass concepts=...)")
        matrix = _read_label_matrix(labels, len(relative), names)

    keys = [rel.as_posix() for rel in relative]
    images = [image_root / rel for rel in relative]
    if drop_unlabeled:
        keep = matrix.any(axis=1)
        matrix = matrix[keep]
        keys = [k for k, kept in zip(keys, keep, strict=True) if kept]
        images = [p for p, kept in zip(images, keep, strict=True) if kept]
    if check_images:
        check_images_exist(images, [f"image {k!r}" for k in keys], str(image_list))
    return MultiLabelSet(images=images, labels=matrix, classnames=list(names), keys=keys, splits=[split] * len(keys))


def _discover_concepts(folder: Path, label_suffix: str) -> list[str]:
    pattern = re.compile(rf"^Labels_(.+){re.escape(label_suffix)}\.txt$")
    found = sorted(m.group(1) for m in (pattern.match(p.name) for p in folder.iterdir()) if m)
    # TrainTestLabels/ holds Labels_<c>_Train.txt and Labels_<c>_Test.txt: never concepts "<c>_Train".
    names = [n for n in found if label_suffix or not n.endswith(("_Train", "_Test"))]
    if not names:
        hint = " (this folder has per-split files: pass label_suffix='_Train' or '_Test')" if found else ""
        raise FileNotFoundError(f"{folder}: no 'Labels_<concept>{label_suffix}.txt' files found{hint}")
    return names


def _nuswide_relative(line: str) -> Path:
    parts = [part for part in re.split(r"[\\/]", line.strip()) if part]
    lowered = [part.lower() for part in parts]
    if "flickr" in lowered:  # C:\ImageData\Flickr\actor\0001.jpg -> actor/0001.jpg
        parts = parts[len(lowered) - lowered[::-1].index("flickr") :]
    elif parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    return Path(*parts)


def _read_concepts(concepts: Sequence[str] | str | Path) -> list[str]:
    if isinstance(concepts, str | Path) and Path(concepts).is_file():
        return [line.strip() for line in _text_lines(Path(concepts)) if line.strip()]
    if isinstance(concepts, str | Path):
        raise FileNotFoundError(f"{concepts}: concept list file not found (or pass a list of names)")
    return [str(name) for name in concepts]


def _read_label_matrix(path: Path, n_images: int, names: Sequence[str]) -> np.ndarray:
    rows = []
    for line_no, text in enumerate(_text_lines(path), start=1):
        if not text.strip():
            continue
        cells = text.split()
        if len(cells) != len(names):
            raise ValueError(f"{path}, line {line_no}: {len(cells)} values, expected {len(names)} (one per concept)")
        rows.append([_binary(v, path, line_no, name) for v, name in zip(cells, names, strict=True)])
    if len(rows) != n_images:
        raise ValueError(f"{path}: {len(rows)} label rows but the image list has {n_images} images")
    return np.array(rows, dtype=np.uint8).reshape(n_images, len(names))


# ----------------------------------------------------------------------------------------------------------
# Generic CSV / TSV


def read_multilabel_csv(
    path: str | Path,
    image_key: str = "filepath",
    labels_key: str | None = "labels",
    label_sep: str = ";",
    sep: str | None = None,
    image_root: str | Path | None = None,
    classnames: Sequence[str] | None = None,
    label_columns: Iterable[str] | None = None,
    split_key: str = "split",
    check_images: bool = True,
) -> MultiLabelSet:
    """Read multi-labels from a CSV/TSV in one of two layouts.

    - list layout (``labels_key`` set): a column of names joined by ``label_sep`` ("grass;trees"; empty = no
      label). Classes are ``classnames`` if given (unknown names are an error), else the sorted names seen.
    - one-hot layout (``labels_key=None``): one 0/1 column per class; the classes are ``label_columns`` if
      given, else every column except ``image_key`` and ``split_key``, in header order.

    Relative image paths are resolved against ``image_root`` (default: the table's folder). An optional
    ``split_key`` column fills ``splits``. ``sep=None`` picks tab for ``.tsv``, comma otherwise.
    """
    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    chosen_columns = list(label_columns) if label_columns is not None else None
    required = [image_key] + ([labels_key] if labels_key is not None else chosen_columns or [])
    rows = read_table(path, required=required, sep=sep)

    if labels_key is None:
        columns = chosen_columns
        if columns is None:
            header = list(rows[0][1]) if rows else []
            columns = [c for c in header if c not in (image_key, split_key)]
        if not columns:
            raise ValueError(f"{path}: one-hot layout but no label columns besides {image_key!r}")
        names = list(columns)
        matrix = np.array(
            [[_binary(row[c].strip(), path, line, c) for c in columns] for line, row in rows], dtype=np.uint8
        ).reshape(len(rows), len(columns))
    else:
        per_row = [[name.strip() for name in row[labels_key].split(label_sep) if name.strip()] for _, row in rows]
        if classnames is None:
            names = sorted({name for row_names in per_row for name in row_names})
        else:
            names = list(classnames)
        column = {name: i for i, name in enumerate(names)}
        matrix = np.zeros((len(rows), len(names)), dtype=np.uint8)
        for r, ((line, _), row_names) in enumerate(zip(rows, per_row, strict=True)):
            for name in row_names:
                if name not in column:
                    raise ValueError(f"{path}, line {line}, field {labels_key!r}: label {name!r} is not in classnames")
                matrix[r, column[name]] = 1

    keys, images, splits = [], [], []
    for line, row in rows:
        image = row[image_key].strip()
        if not image:
            raise ValueError(f"{path}, line {line}: field {image_key!r} is empty")
        keys.append(image)
        images.append(Path(image) if Path(image).is_absolute() else root / image)
        splits.append((row.get(split_key) or "").strip() or None)
    if check_images:
        check_images_exist(images, [f"line {line} {k!r}" for (line, _), k in zip(rows, keys, strict=True)], str(path))
    return MultiLabelSet(images=images, labels=matrix, classnames=names, keys=keys, splits=splits)
