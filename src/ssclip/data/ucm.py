"""UC Merced with three annotation sets on the same 2100 images: captions, 21 classes, 17 multi-labels.

``load_ucm`` aligns everything to the caption JSON's order and split (train 1680 / val 210 / test 210), so a
model trained on the train split of any task is never evaluated on its own training images. Every view
(captions, classification, multi-label) uses the caption file's name ("1.tif") as ``key``, so features cached
for one task are found again by the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .captions import read_caption_json
from .classfolders import IMAGE_EXTENSIONS, readable_class_name
from .multilabel import read_ucm_multilabel
from .types import ClassificationSet, ImageCaptions, MultiLabelSet

__all__ = ["UCMData", "load_ucm", "ucm_filename_rule"]


@dataclass
class UCMData:
    """All UC Merced annotations, row ``i`` of every field describing the same image."""

    records: list[ImageCaptions]  # caption-JSON order; ``label`` is the scene class index
    classnames: list[str]  # 21 readable scene names, sorted by folder name
    targets: np.ndarray  # (N,) int64 scene class per image
    multilabels: MultiLabelSet  # (N, 17) labels, same images, splits filled in
    splits: list[str | None]

    @property
    def images(self) -> list[Path]:
        return [Path(record.image) for record in self.records]

    @property
    def keys(self) -> list[str]:
        return [record.key for record in self.records]

    def indices(self, split: str | Iterable[str] | None = None) -> np.ndarray:
        """Row indices of the images in ``split`` (a name, several names, or ``None`` for all)."""
        if split is None:
            return np.arange(len(self.records), dtype=np.int64)
        wanted = {split} if isinstance(split, str) else set(split)
        return np.array([i for i, s in enumerate(self.splits) if s in wanted], dtype=np.int64)

    def captions(self, split: str | Iterable[str] | None = None) -> list[ImageCaptions]:
        return [self.records[i] for i in self.indices(split)]

    def classification(self, split: str | Iterable[str] | None = None) -> ClassificationSet:
        rows = self.indices(split)
        return ClassificationSet(
            images=[self.records[i].image for i in rows],
            targets=[int(self.targets[i]) for i in rows],
            classnames=list(self.classnames),
            keys=[self.records[i].key for i in rows],
        )

    def multilabel(self, split: str | Iterable[str] | None = None) -> MultiLabelSet:
        rows = self.indices(split)
        full = self.multilabels
        return MultiLabelSet(
            images=[full.images[i] for i in rows],
            labels=full.labels[rows],
            classnames=list(full.classnames),
            keys=[full.keys[i] for i in rows],
            splits=[full.splits[i] for i in rows],
        )


def ucm_filename_rule(images_dir: str | Path, n_images: int = 2100) -> dict[str, Path]:
    """The UCM-captions naming rule: ``N.tif`` is image ``(N-1) % 100`` (sorted) of class ``(N-1) // 100``.

    Used when no ``filename_map.csv`` is at hand, e.g. with the original UC Merced ``Images`` tree.
    """
    images_dir = Path(images_dir)
    classes = sorted(p for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    mapping: dict[str, Path] = {}
    files_of: dict[int, list[Path]] = {}
    for n in range(1, n_images + 1):
        class_index, image_index = divmod(n - 1, 100)
        if class_index >= len(classes):
            raise ValueError(f"{images_dir}: {len(classes)} class folders, too few for caption image {n}.tif")
        if class_index not in files_of:
            files_of[class_index] = _sorted_images(classes[class_index])
        files = files_of[class_index]
        if image_index >= len(files):
            raise ValueError(f"{classes[class_index]}: {len(files)} images, too few for caption image {n}.tif")
        mapping[f"{n}.tif"] = files[image_index]
    return mapping


def load_ucm(
    root: str | Path,
    caption_json: str = "dataset.json",
    filename_map: str = "filename_map.csv",
    multilabel_txt: str = "LandUse_Multilabeled.txt",
    images_dir: str = "Images",
) -> UCMData:
    """Load UC Merced captions, scene classes and multi-labels from ``root``, aligned to the caption JSON.

    File names are relative to ``root``. Without ``filename_map`` on disk the caption names are mapped by
    :func:`ucm_filename_rule`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: no such folder (expected a UC Merced folder holding {caption_json}, "
            f"{multilabel_txt} and {images_dir}/)"
        )
    required = {
        caption_json: (root / caption_json).is_file(),
        multilabel_txt: (root / multilabel_txt).is_file(),
        f"{images_dir}/": (root / images_dir).is_dir(),
    }
    missing = [name for name, present in required.items() if not present]
    if missing:
        raise FileNotFoundError(f"{root}: not a UC Merced folder, missing {', '.join(missing)}")
    map_path = root / filename_map
    mapping = map_path if map_path.is_file() else ucm_filename_rule(root / images_dir)
    records = read_caption_json(root / caption_json, image_root=root, filename_map=mapping)

    folder_names = sorted(p.name for p in (root / images_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    class_of_folder = {name: i for i, name in enumerate(folder_names)}
    labeled = []
    for record in records:
        folder = Path(record.image).parent.name
        if folder not in class_of_folder:
            raise ValueError(f"{root / caption_json}: image {record.image} of {record.key!r} is not in a class folder")
        target = class_of_folder[folder]
        if record.label is not None and record.label != target:
            raise ValueError(f"{map_path}: {record.key!r} has class index {record.label}, its folder says {target}")
        labeled.append(dataclasses.replace(record, label=target))

    multi = read_ucm_multilabel(root / multilabel_txt, root)
    row_of = {key: i for i, key in enumerate(multi.keys)}
    missing = [r.key for r in labeled if Path(r.image).stem not in row_of]
    if missing:
        raise ValueError(f"{root / multilabel_txt}: no row for the images of {missing[:5]} ({len(missing)} in all)")
    rows = np.array([row_of[Path(r.image).stem] for r in labeled], dtype=np.int64)
    splits = [r.split for r in labeled]
    multilabels = MultiLabelSet(
        images=[r.image for r in labeled],
        labels=multi.labels[rows],
        classnames=multi.classnames,
        keys=[r.key for r in labeled],
        splits=splits,
    )
    return UCMData(
        records=labeled,
        classnames=[readable_class_name(name) for name in folder_names],
        targets=np.array([r.label for r in labeled], dtype=np.int64),
        multilabels=multilabels,
        splits=splits,
    )


def _sorted_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
