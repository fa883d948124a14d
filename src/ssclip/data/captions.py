"""Image-caption readers: Karpathy-style JSON (UCM-captions, RSICD, Sydney-captions) and open_clip CSV/TSV.

Both return one :class:`ImageCaptions` per image with all of its captions, so a sampler can pick one caption
per step and retrieval can score every caption. Image files are checked at read time: a missing image is
reported once, with the entries that point to it, instead of failing mid-epoch inside a data-loader worker.

The small table helpers at the bottom (``read_table``, ``check_images_exist``) are shared with
``multilabel.py``, which reads the same CSV/TSV conventions.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from .types import ImageCaptions

__all__ = [
    "CAPTION_IMAGE_SUBDIRS",
    "MissingColumnError",
    "MissingKeyError",
    "check_images_exist",
    "normalize_caption",
    "read_caption_csv",
    "read_caption_json",
    "read_filename_map",
    "read_table",
]

# Where the public caption releases keep their images relative to the JSON: beside it, or in a sub-folder
# (RSICD: RSICD_images/, UCM-/Sydney-captions: imgs/, custom exports: images/).
CAPTION_IMAGE_SUBDIRS: tuple[str, ...] = ("", "images", "imgs", "RSICD_images")

_MAX_LISTED_MISSING = 5


class MissingKeyError(KeyError):
    """A ``KeyError`` whose message prints as written (a plain ``KeyError`` prints its message's repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingColumnError(MissingKeyError):
    """A table lacks a required column (open_clip raises ``KeyError`` there too, so this is one)."""


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def normalize_caption(text: str) -> str:
    """Strip, collapse runs of whitespace and remove the tokenizer's space before punctuation.

    The Karpathy releases store ``raw`` as detokenized text with a space before the final period
    ("There is a piece of farmland ."); a CLIP tokenizer would see a stray token, so it is joined back.
    """
    collapsed = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", collapsed)


# ----------------------------------------------------------------------------------------------------------
# Karpathy JSON


def read_caption_json(
    json_path: str | Path,
    image_root: str | Path | None = None,
    filename_map: str | Path | Mapping[str, str | Path] | None = None,
    splits: str | Iterable[str] | None = None,
) -> list[ImageCaptions]:
    """Read a Karpathy-style caption JSON: ``{"images": [{"filename", "split", "sentences": [{"raw"}]}]}``.

    Args:
        json_path: the JSON file (UCM-captions ``dataset.json``, RSICD ``dataset_rsicd.json``, ...).
        image_root: folder of the images; defaults to the JSON's folder. Each entry is looked for at
            ``<root>/<filepath>/<filename>`` (when the entry has a ``filepath``, as COCO's Karpathy file has),
            then ``<root>/<sub>/<filename>`` for ``sub`` in :data:`CAPTION_IMAGE_SUBDIRS`.
        filename_map: optional CSV ``caption_filename,image[,class][,split]`` mapping the JSON's file names
            to image paths relative to the CSV's folder (with a ``class`` column, each record's ``label`` is
            the index of its class among the sorted class names), or an in-memory mapping from JSON file
            name to image path (relative paths resolved against ``image_root``). The JSON's ``split`` is
            used either way; a ``split`` column in the map is ignored.
        splits: keep only these splits (``"train"`` or ``["train", "restval"]``); ``None`` keeps all.

    Returns:
        One record per image, in JSON order; ``key`` is the JSON's file name, captions come from ``raw``
        (``tokens`` joined when ``raw`` is absent), normalized by :func:`normalize_caption`.
    """
    json_path = Path(json_path)
    root = Path(image_root) if image_root is not None else json_path.parent
    keep = _as_split_set(splits)
    entries = _load_karpathy_entries(json_path)

    mapped: dict[str, Path] | None = None
    map_labels: dict[str, int] = {}
    map_source = ""
    if isinstance(filename_map, Mapping):
        mapped = {name: _resolve(root, path) for name, path in filename_map.items()}
        map_source = "the filename_map mapping"
    elif filename_map is not None:
        mapped, map_labels = read_filename_map(filename_map)
        map_source = str(filename_map)

    records: list[ImageCaptions] = []
    missing: list[str] = []
    for index, entry in enumerate(entries):
        where = f"{json_path}, images[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with 'filename' and 'sentences', got {type(entry).__name__}")
        filename = entry.get("filename")
        if not isinstance(filename, str) or not filename:
            raise ValueError(f"{where}: field 'filename' is missing or not a string (got {filename!r})")
        split = entry.get("split")
        if split is not None and not isinstance(split, str):
            raise ValueError(f"{where} ({filename}): field 'split' should be a string, got {split!r}")
        if keep is not None and split not in keep:
            continue
        captions = _entry_captions(entry, where=f"{where} ({filename})")

        if mapped is not None:
            if filename not in mapped:
                raise MissingKeyError(f"{where}: file name {filename!r} is not in {map_source}")
            candidates = [mapped[filename]]
        else:
            candidates = _json_image_candidates(root, filename, entry.get("filepath"))
        image = next((path for path in candidates if path.is_file()), None)
        if image is None:
            tried = " or ".join(str(path) for path in candidates)
            missing.append(f"images[{index}] {filename!r}: tried {tried}")
            image = candidates[0]
        records.append(
            ImageCaptions(image=image, captions=captions, split=split, label=map_labels.get(filename), key=filename)
        )
    if missing:
        raise FileNotFoundError(_missing_message(f"{json_path}", missing, "image files"))
    return records


def read_filename_map(path: str | Path) -> tuple[dict[str, Path], dict[str, int]]:
    """Read a ``caption_filename,image[,class]`` CSV; returns (name -> image path, name -> class index).

    Image paths are relative to the CSV's folder; class indices follow the sorted class names.
    """
    path = Path(path)
    rows = read_table(path, required=("caption_filename", "image"), sep=",")
    images: dict[str, Path] = {}
    classes: dict[str, str] = {}
    for line, row in rows:
        name = row["caption_filename"].strip()
        if not name:
            raise ValueError(f"{path}, line {line}: field 'caption_filename' is empty")
        if name in images:
            raise ValueError(f"{path}, line {line}: caption_filename {name!r} appears twice")
        images[name] = _resolve(path.parent, row["image"].strip())
        if "class" in row:
            if not row["class"].strip():
                raise ValueError(f"{path}, line {line}: field 'class' is empty for {name!r}")
            classes[name] = row["class"].strip()
    class_index = {name: i for i, name in enumerate(sorted(set(classes.values())))}
    return images, {name: class_index[cls] for name, cls in classes.items()}


def _load_karpathy_entries(json_path: Path) -> list[dict]:
    if not json_path.is_file():
        raise FileNotFoundError(f"{json_path}: caption file not found")
    try:
        with open(json_path, encoding="utf-8") as f, utf8_errors(json_path):
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(
            f"{json_path}: expected a Karpathy-style caption file, an object with an 'images' list "
            '({"images": [{"filename", "split", "sentences": [{"raw"}]}]})'
        )
    return data["images"]


def _entry_captions(entry: dict, where: str) -> tuple[str, ...]:
    sentences = entry.get("sentences")
    if not isinstance(sentences, list) or not sentences:
        raise ValueError(f"{where}: field 'sentences' should be a non-empty list, got {sentences!r}")
    captions = []
    for j, sentence in enumerate(sentences):
        raw = sentence.get("raw") if isinstance(sentence, dict) else None
        if raw is None and isinstance(sentence, dict) and isinstance(sentence.get("tokens"), list):
            raw = " ".join(str(token) for token in sentence["tokens"])
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"{where}: sentences[{j}] has no text in 'raw' (or 'tokens')")
        captions.append(normalize_caption(raw))
    return tuple(captions)


def _json_image_candidates(root: Path, filename: str, filepath: object) -> list[Path]:
    candidates = []
    if isinstance(filepath, str) and filepath:
        candidates.append(root / filepath / filename)
    candidates.extend(root / sub / filename if sub else root / filename for sub in CAPTION_IMAGE_SUBDIRS)
    return candidates


def _as_split_set(splits: str | Iterable[str] | None) -> set[str] | None:
    if splits is None:
        return None
    return {splits} if isinstance(splits, str) else set(splits)


# ----------------------------------------------------------------------------------------------------------
# open_clip CSV / TSV


def read_caption_csv(
    path: str | Path,
    image_key: str = "filepath",
    caption_key: str = "title",
    sep: str | None = None,
    image_root: str | Path | None = None,
    split_key: str = "split",
) -> list[ImageCaptions]:
    """Read an open_clip-style CSV/TSV of (image path, caption) rows.

    Args:
        path: the table. ``sep=None`` picks the separator from the extension: ``.tsv`` -> tab, else comma.
        image_key, caption_key: column names (open_clip's ``--csv-img-key`` / ``--csv-caption-key``).
        image_root: folder that relative image paths are resolved against; defaults to the table's folder,
            falling back to the working directory (where open_clip resolves them) when that finds the file.
        split_key: optional column holding each row's split; ignored when absent.

    Returns:
        One record per distinct image, in order of first appearance, with every caption of that image;
        ``key`` is the image path as written in the table.
    """
    path = Path(path)
    sep = _separator_for(path, sep)
    root = Path(image_root) if image_root is not None else path.parent
    grouped: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    split_of: dict[str, str | None] = {}
    for line, row in read_table(path, required=(image_key, caption_key), sep=sep):
        image = row[image_key].strip()
        caption = normalize_caption(row[caption_key] or "")
        if not image:
            raise ValueError(f"{path}, line {line}: column {image_key!r} is empty")
        if not caption:
            raise ValueError(f"{path}, line {line}: column {caption_key!r} is empty for image {image!r}")
        split = (row.get(split_key) or "").strip() or None
        if image in split_of and split_of[image] != split:
            raise ValueError(
                f"{path}, line {line}: image {image!r} has split {split!r} but split {split_of[image]!r} "
                f"on line {first_line[image]}"
            )
        grouped.setdefault(image, []).append(caption)
        first_line.setdefault(image, line)
        split_of[image] = split

    records, missing = [], []
    for image, captions in grouped.items():
        resolved = _resolve_with_cwd_fallback(root, image)
        if not resolved.is_file():
            missing.append(f"line {first_line[image]} {image!r}: tried {resolved}")
        records.append(ImageCaptions(image=resolved, captions=tuple(captions), split=split_of[image], key=image))
    if missing:
        raise FileNotFoundError(_missing_message(str(path), missing, "image files"))
    return records


# ----------------------------------------------------------------------------------------------------------
# Shared table / file helpers (also used by multilabel.py)


def read_table(path: str | Path, required: Sequence[str], sep: str | None = None) -> list[tuple[int, dict[str, str]]]:
    """Read a delimited text table with a header row; returns ``(line number, row dict)`` pairs.

    A missing required column raises a ``KeyError`` naming the file, the separator used, the columns found
    and, when the header looks like it was split with the wrong separator, the one to use instead.
    """
    path = Path(path)
    sep = _separator_for(path, sep)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: table not found")
    with open(path, encoding="utf-8-sig", newline="") as f, utf8_errors(path):
        reader = csv.DictReader(f, delimiter=sep)
        columns = list(reader.fieldnames or [])
        absent = [key for key in required if key not in columns]
        if absent:
            raise MissingColumnError(_missing_column_message(path, sep, absent, columns))
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:  # csv.DictReader keeps the last of same-named columns: the others would vanish unseen
            positions = ", ".join(f"{c!r} (columns {[i + 1 for i, n in enumerate(columns) if n == c]})" for c in twice)
            raise ValueError(f"{path}, line 1: column names appear more than once: {positions}; expected unique names")
        rows = []
        for row in reader:
            if None in row:  # more cells than header columns: almost always a separator or quoting problem
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(columns) + len(row[None])} fields but the header "
                    f"has {len(columns)} (separator {sep!r}; quote fields that contain it)"
                )
            rows.append((reader.line_num, {k: (v if v is not None else "") for k, v in row.items()}))
    return rows


@contextlib.contextmanager
def utf8_errors(path: Path) -> Iterator[None]:
    """Turn a ``UnicodeDecodeError`` while reading ``path`` into a ``ValueError`` naming the file, the line and
    the byte (Python's own message names neither the file nor the line)."""
    try:
        yield
    except UnicodeDecodeError as e:
        data = path.read_bytes()
        start = data.find(e.object) if isinstance(e.object, bytes) and e.object else -1
        offset = (start if start >= 0 else 0) + e.start
        line = data.count(b"\n", 0, offset) + 1 if start >= 0 else None
        where = f", line {line}" if line else ""
        raise ValueError(
            f"{path}{where}: byte 0x{e.object[e.start]:02x} is not UTF-8 text; expected a UTF-8 file "
            "(re-save it as UTF-8)"
        ) from None


def check_images_exist(paths: Sequence[Path], labels: Sequence[str], source: str) -> None:
    """Raise one ``FileNotFoundError`` listing (up to 5 of) the paths that do not exist."""
    missing = [f"{label}: tried {path}" for path, label in zip(paths, labels, strict=True) if not path.is_file()]
    if missing:
        raise FileNotFoundError(_missing_message(source, missing, "image files"))


def _separator_for(path: Path, sep: str | None) -> str:
    if sep is not None:
        return sep
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _missing_column_message(path: Path, sep: str, absent: Sequence[str], columns: Sequence[str]) -> str:
    message = f"{path}: column(s) {list(absent)} not found with separator {sep!r}; columns found: {list(columns)}."
    other = "," if sep == "\t" else "\t"
    header = sep.join(columns)
    if other in header:
        looks = _sep_name(other)
        message += (
            f" The header contains {other!r}: this file looks {looks}-separated, pass sep={other!r}"
            " (command line: --csv-separator)."
        )
    else:
        message += (
            f" If the file is {_sep_name(other)}-separated, pass sep={other!r}; otherwise name the columns"
            " (command line: --csv-separator, --csv-img-key ...)."
        )
    return message


def _sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma"}.get(sep, repr(sep))


def _missing_message(source: str, missing: Sequence[str], what: str) -> str:
    listed = "\n  ".join(missing[:_MAX_LISTED_MISSING])
    more = f"\n  ... and {len(missing) - _MAX_LISTED_MISSING} more" if len(missing) > _MAX_LISTED_MISSING else ""
    return f"{source}: {len(missing)} {what} not found:\n  {listed}{more}"


def _resolve(root: Path, path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path


def _resolve_with_cwd_fallback(root: Path, image: str) -> Path:
    resolved = _resolve(root, image)
    if not resolved.is_file() and Path(image).is_file():
        return Path(image)
    return resolved
