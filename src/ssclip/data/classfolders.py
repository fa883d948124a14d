"""Class-per-folder image trees (UC Merced, RSSCN7, AID, WHU-RS19, RESISC45) and readable class names.

Zero-shot classification prompts a text tower with the class names, so "baseballdiamond" must become
"baseball diamond". Folder names in the wild come in four spellings, all handled by
:func:`readable_class_name`:

- concatenated lower case (UC Merced ``baseballdiamond``): split with a small vocabulary of scene words;
- a one-letter ordering prefix (RSSCN7 ``aGrass``, ``dRiverLake``): dropped;
- CamelCase (AID ``BareLand``, WHU-RS19 ``railwayStation``): split at case changes;
- underscores / hyphens (RESISC45 ``storage_tanks``, UCM multi-labels ``bare-soil``): become spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .types import ClassificationSet

__all__ = [
    "IMAGE_EXTENSIONS",
    "SCENE_WORDS",
    "read_class_folders",
    "readable_class_name",
    "split_concatenated",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# Words of the scene classes of UC Merced, RSSCN7, AID, WHU-RS19, RESISC45 (and PatternNet, VOC), used to
# split names written without separators. Whole compound words ("overpass", "freeway", "airplane",
# "baseball", "farmland") are listed so that the fewest-words split keeps them intact.
_SCENE_WORDS_TEXT = """
    agricultural airplane airport area bare baseball basketball beach bridge building buildings cemetery
    center chaparral christmas church circular closed cloud commercial course court crosswalk cross dense
    desert diamond district farmland ferry field football forest freeway golf grass ground harbor
    home industrial industry intersection island lake land lot meadow medium mobile mountain nursing oil
    overpass palace park parking pass pavement plant playground pond port power railway rectangular residence
    resident residential resort river road roundabout runway school sea ice ship shrubbery snowberg solar
    sparse square stadium station storage tank tanks tennis terminal terrace thermal track trees viaduct
    wastewater water well wetland
    aeroplane bicycle bird boat bottle bus car cat chair cow dining table dog horse motorbike person potted
    sheep sofa train tv monitor
"""
SCENE_WORDS: frozenset[str] = frozenset(_SCENE_WORDS_TEXT.split())

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ORDER_PREFIX = re.compile(r"^[a-z](?=[A-Z][a-z])")  # RSSCN7: aGrass, bField, ..., gParking


def readable_class_name(folder: str, vocabulary: Iterable[str] | None = None) -> str:
    """Turn a dataset's class folder name into lower-case words for prompts.

    >>> readable_class_name("baseballdiamond"), readable_class_name("aGrass"), readable_class_name("BareLand")
    ('baseball diamond', 'grass', 'bare land')

    Concatenated words are split only when the whole token is covered by ``vocabulary`` (default
    :data:`SCENE_WORDS`); unknown tokens are kept as they are rather than guessed at.
    """
    vocab = SCENE_WORDS if vocabulary is None else frozenset(word.lower() for word in vocabulary)
    name = _ORDER_PREFIX.sub("", folder.strip())
    words: list[str] = []
    for part in re.split(r"[\s_\-]+", name):
        for token in _CAMEL_BOUNDARY.split(part):
            if token:
                words.extend(split_concatenated(token.lower(), vocab))
    return " ".join(words)


def split_concatenated(token: str, vocabulary: frozenset[str] = SCENE_WORDS) -> list[str]:
    """Split ``token`` into the fewest vocabulary words that spell it, or return ``[token]`` if none do."""
    return list(_split_cached(token, vocabulary))


@lru_cache(maxsize=4096)
def _split_cached(token: str, vocabulary: frozenset[str]) -> tuple[str, ...]:
    # best[i] = fewest-words split of token[:i]; dynamic programming over split points.
    best: list[tuple[str, ...] | None] = [None] * (len(token) + 1)
    best[0] = ()
    for end in range(1, len(token) + 1):
        for start in range(end):
            prefix = best[start]
            if prefix is None or token[start:end] not in vocabulary:
                continue
            candidate = (*prefix, token[start:end])
            if best[end] is None or len(candidate) < len(best[end]):
                best[end] = candidate
    return best[-1] if best[-1] else (token,)


def read_class_folders(
    root: str | Path,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
) -> ClassificationSet:
    """Read ``root/<class>/<image>``: classes are the sorted sub-folders, images the sorted files in each.

    Only files directly inside a class folder with one of ``extensions`` (case-insensitive) are images;
    hidden folders and files are skipped; images in sub-folders of a class folder are an error (they would
    otherwise be dropped unseen). ``keys`` are paths relative to ``root`` ("airplane/airplane00.tif"),
    ``classnames`` the readable names. A class folder without images keeps its index, so class indices
    always match the sorted folder list.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: class-folder root not found (expected {root}/<class>/<image>)")
    allowed = {ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{root}: no class folders found (expected {root}/<class>/<image>)")

    images: list[Path] = []
    targets: list[int] = []
    keys: list[str] = []
    nested: list[str] = []
    for target, folder in enumerate(folders):
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in allowed
        )
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            inside = sum(1 for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in allowed)
            if inside:
                nested.append(f"{sub.relative_to(root).as_posix()}/ ({inside} images)")
        images.extend(files)
        targets.extend([target] * len(files))
        keys.extend(p.relative_to(root).as_posix() for p in files)
    if nested:  # never drop them silently: the root is one level off, or the tree is not one folder per class
        hint = ""
        if not images and len(folders) == 1:
            hint = f" The classes look one level down: use {folders[0]} as the root."
        listed = ", ".join(nested[:5]) + (f" and {len(nested) - 5} more" if len(nested) > 5 else "")
        raise ValueError(
            f"{root}: images in sub-folders of class folders: {listed}. Expected {root}/<class>/<image>, "
            f"images directly inside each class folder.{hint}"
        )
    if not images:
        raise ValueError(
            f"{root}: {len(folders)} class folders but no images with extensions {sorted(allowed)} in them"
        )
    classnames = [readable_class_name(folder.name) for folder in folders]
    return ClassificationSet(images=list(images), targets=targets, classnames=classnames, keys=keys)
