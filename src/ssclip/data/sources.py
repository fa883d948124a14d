"""Datasets by (format, path): what the command line's ``--data PATH --format NAME`` resolves to.

Every format yields a :class:`DataSource`, a table of images where each row may carry captions, a scene
class and multi-labels, plus its split name; commands then take the part they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ssclip.data.captions import read_caption_csv, read_caption_json
from ssclip.data.classfolders import read_class_folders
from ssclip.data.multilabel import read_coco_instances, read_multilabel_csv, read_ucm_multilabel, read_voc
from ssclip.data.split import split_labeled
from ssclip.data.types import ClassificationSet, ImageCaptions, MultiLabelSet
from ssclip.registry import Registry


@dataclass
class DataSource:
    captions: list[ImageCaptions] | None = None
    classification: ClassificationSet | None = None
    multilabel: MultiLabelSet | None = None
    splits: list[str | None] = field(default_factory=list)
    classnames: list[str] | None = None  # scene classes, for zero-shot classification

    @property
    def has_splits(self) -> bool:
        """Whether any row names its split (a ``split`` column, a split file): without one, training and
        evaluation would see the same images unless a split is made (:meth:`with_holdout`)."""
        return any(self.splits)

    def with_holdout(self, fraction: float, seed: int) -> DataSource:
        """This source with a seeded ``fraction`` of its rows named ``"test"`` and the rest ``"train"``, for data
        without splits of its own (the draw is :func:`ssclip.data.split.split_labeled`'s: the same on every
        machine for a seed)."""
        if self.has_splits:
            raise ValueError("this dataset has splits of its own: a held-out split is only for data without them")
        if not 0 < fraction < 1:
            raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
        held, _ = split_labeled(len(self.splits), fraction, seed)
        splits: list[str | None] = ["train"] * len(self.splits)
        for i in held:
            splits[int(i)] = "test"
        captions = self.captions
        if captions is not None:
            captions = [replace(r, split=s) for r, s in zip(captions, splits, strict=True)]
        multilabel = None if self.multilabel is None else replace(self.multilabel, splits=list(splits))
        return replace(self, captions=captions, multilabel=multilabel, splits=splits)

    def rows(self, split: str | None) -> np.ndarray:
        n = len(self.splits)
        if split is None or not any(self.splits):
            return np.arange(n)
        return np.array([i for i, s in enumerate(self.splits) if s == split], dtype=np.int64)

    def _split_rows(self, split: str | None) -> np.ndarray:
        """``rows(split)``, but an empty split is an error naming the splits there are."""
        rows = self.rows(split)
        if len(rows) == 0:
            present = sorted({s for s in self.splits if s}) or ["none"]
            raise ValueError(f"no images in split {split!r} (splits in this dataset: {', '.join(present)})")
        return rows

    def caption_records(self, split: str | None) -> list[ImageCaptions]:
        if self.captions is None:
            raise ValueError("this dataset has no captions (use a caption JSON/CSV, ucm or synthetic)")
        return [self.captions[i] for i in self._split_rows(split)]

    def multilabel_set(self, split: str | None) -> MultiLabelSet:
        if self.multilabel is None:
            raise ValueError("this dataset has no multi-labels (use multilabel-*, coco, voc, ucm or synthetic)")
        rows = self._split_rows(split)
        ml = self.multilabel
        return MultiLabelSet(
            [ml.images[i] for i in rows],
            ml.labels[rows],
            list(ml.classnames),
            [ml.keys[i] for i in rows] if ml.keys else [],
            [self.splits[i] for i in rows] if self.splits else [],
        )

    def classification_set(self, split: str | None) -> ClassificationSet:
        if self.classification is not None:
            rows = self._split_rows(split)
            c = self.classification
            return ClassificationSet(
                [c.images[i] for i in rows],
                [c.targets[i] for i in rows],
                c.classnames,
                [c.keys[i] for i in rows] if c.keys else [],
            )
        if self.captions is not None and self.classnames:
            recs = self.caption_records(split)
            if all(r.label is not None for r in recs):
                return ClassificationSet(
                    [r.image for r in recs],
                    [int(r.label) for r in recs],  # type: ignore
                    list(self.classnames),
                    [r.key for r in recs],
                )
        raise ValueError("this dataset has no scene classes (use class-folder, ucm or synthetic)")


FORMATS: Registry[Callable[..., DataSource]] = Registry("data format")


def _csv_options(options: dict[str, object], *accepted: str) -> dict[str, object]:
    """The reader options a CSV format takes, as the command line spells them: an escaped tab
    (``--csv-separator '\\t'``) is a tab, ``labels_key="none"`` the one-hot layout."""
    picked = {k: options[k] for k in accepted if options.get(k) is not None}
    if picked.get("sep") == "\\t":
        picked["sep"] = "\t"
    if str(picked.get("labels_key", "")).lower() == "none":
        picked["labels_key"] = None
    return picked


@FORMATS.register("ucm")
def _ucm(path: str, **_: object) -> DataSource:
    from ssclip.data.ucm import load_ucm

    d = load_ucm(path)
    return DataSource(d.records, None, d.multilabels, list(d.splits), list(d.classnames))


@FORMATS.register("synthetic")
def _synthetic(path: str, n: int = 1200, seed: int = 0, **_: object) -> DataSource:
    """``path`` is ignored unless it is ``n=...,seed=...``: the embedded generator needs no files."""
    from ssclip.data.synthetic import generate_synthetic, make_splits

    opts = dict(kv.split("=") for kv in path.split(",") if "=" in kv) if path else {}
    n, seed = int(opts.get("n", n)), int(opts.get("seed", seed))
    data = generate_synthetic(n, seed=seed)
    splits = make_splits(n, seed=seed, targets=data.targets)
    records = data.caption_records(splits)
    return DataSource(records, None, data.multilabel(splits), [r.split for r in records], list(data.classnames))


@FORMATS.register("captions-json")
def _captions_json(
    path: str, image_root: str | None = None, filename_map: str | None = None, **_: object
) -> DataSource:
    recs = read_caption_json(path, image_root=image_root, filename_map=filename_map)
    return DataSource(recs, None, None, [r.split for r in recs])


@FORMATS.register("captions-csv")
def _captions_csv(path: str, image_root: str | None = None, **options: object) -> DataSource:
    recs = read_caption_csv(path, image_root=image_root, **_csv_options(options, "sep", "image_key", "caption_key"))
    return DataSource(recs, None, None, [r.split for r in recs])


@FORMATS.register("captions-wds")
def _captions_wds(path: str, index_dir: str | None = None, **_: object) -> DataSource:
    """webdataset shards of ``key.jpg`` + ``key.txt`` (open_clip's --train-data), e.g. 'train/{000..009}.tar';
    ``index_dir``: where the shards' indexes are kept between runs."""
    from ssclip.data.shards import read_caption_shards

    recs = read_caption_shards(path, index_dir=index_dir)
    return DataSource(recs, None, None, [None] * len(recs))


@FORMATS.register("class-folder")
def _class_folder(path: str, **_: object) -> DataSource:
    c = read_class_folders(path)
    return DataSource(None, c, None, [None] * len(c.images), list(c.classnames))


@FORMATS.register("multilabel-ucm")
def _ml_ucm(path: str, image_root: str | None = None, **_: object) -> DataSource:
    ml = read_ucm_multilabel(path, image_root or Path(path).parent)
    return DataSource(None, None, ml, list(ml.splits) or [None] * len(ml.images))


@FORMATS.register("multilabel-csv")
def _ml_csv(
    path: str, image_root: str | None = None, classnames: list[str] | None = None, **options: object
) -> DataSource:
    """``classnames``: the class list (a label outside it is an error); in the one-hot layout, the columns."""
    picked = _csv_options(options, "sep", "image_key", "labels_key")
    if classnames is not None:
        picked["classnames" if picked.get("labels_key", "labels") is not None else "label_columns"] = classnames
    ml = read_multilabel_csv(path, image_root=image_root, **picked)
    return DataSource(None, None, ml, list(ml.splits) or [None] * len(ml.images))


@FORMATS.register("coco")
def _coco(path: str, image_root: str | None = None, **_: object) -> DataSource:
    ml = read_coco_instances(path, image_root or Path(path).parent)
    return DataSource(None, None, ml, [None] * len(ml.images))


@FORMATS.register("voc")
def _voc(path: str, split: str = "train", **_: object) -> DataSource:
    ml = read_voc(path, split=split)
    return DataSource(None, None, ml, [None] * len(ml.images))


def load_source(fmt: str, path: str, **options: object) -> DataSource:
    """Read ``path`` in format ``fmt`` (see ``FORMATS.names()``)."""
    return FORMATS.get(fmt)(path, **options)
