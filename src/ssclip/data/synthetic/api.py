"""The public entry points: the :class:`SyntheticAerial` record, :func:`generate_synthetic`,
:func:`make_splits`, :func:`write_synthetic` and :func:`save_grid`.

Image ``i`` is drawn from its own generator seeded with ``(seed, i)``, so the arrays are byte-identical for
the same ``(n, seed, image_size)`` and a larger ``n`` extends a smaller one; 2000 images of 128 px take a
few seconds.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..types import ClassificationSet, ImageCaptions, MultiLabelSet
from .canvas import _Draws
from .scenes import _render
from .vocabulary import _WORD, OBJECT_LABELS, SCENE_CLASSES, class_folder


@dataclass
class SyntheticAerial:
    """A generated set. ``ids`` are the images' indices in the original generation (stable under subset)."""

    images: np.ndarray  # (N, H, W, 3) uint8
    captions: list[tuple[str, ...]]
    targets: np.ndarray  # (N,) int64 index into classnames
    classnames: list[str]
    labels: np.ndarray  # (N, L) uint8 in labelnames order
    labelnames: list[str]
    ids: np.ndarray | None = None  # default: 0..N-1

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.ids is None:
            self.ids = np.arange(n, dtype=np.int64)
        checks = {
            "captions": len(self.captions),
            "targets": len(self.targets),
            "labels": len(self.labels),
            "ids": len(self.ids),
        }
        for name, length in checks.items():
            if length != n:
                raise ValueError(f"SyntheticAerial: {name} has {length} entries, expected {n} (one per image)")
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(
                f"SyntheticAerial: images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape[1:] != (len(self.labelnames),):
            raise ValueError(
                f"SyntheticAerial: labels have shape {self.labels.shape}, expected ({n}, {len(self.labelnames)})"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def keys(self) -> list[str]:
        return [f"synthetic/{i:05d}" for i in self.ids.tolist()]

    def pil_images(self) -> list[Image.Image]:
        return [Image.fromarray(im) for im in self.images]

    def caption_records(self, split: str | Mapping[str, np.ndarray] | None = None) -> list[ImageCaptions]:
        """One :class:`ImageCaptions` per image (in-memory PIL images, ``label`` = class index).

        ``split`` is either one split name for every record or a ``{name: indices}`` mapping such as
        :func:`make_splits` returns (indices are positions in this set; images in no split get ``None``).
        """
        names = self._split_names(split)
        return [
            ImageCaptions(image=im, captions=caps, split=s, label=int(t), key=k)
            for im, caps, s, t, k in zip(self.pil_images(), self.captions, names, self.targets, self.keys, strict=True)
        ]

    def classification(self) -> ClassificationSet:
        return ClassificationSet(
            images=list(self.pil_images()),
            targets=[int(t) for t in self.targets],
            classnames=list(self.classnames),
            keys=self.keys,
        )

    def multilabel(self, split: str | Mapping[str, np.ndarray] | None = None) -> MultiLabelSet:
        return MultiLabelSet(
            images=list(self.pil_images()),
            labels=self.labels.copy(),
            classnames=list(self.labelnames),
            keys=self.keys,
            splits=self._split_names(split),
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> SyntheticAerial:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"subset: indices must be in [0, {len(self)}), got min {idx.min()} max {idx.max()}")
        return SyntheticAerial(
            images=self.images[idx],
            captions=[self.captions[i] for i in idx.tolist()],
            targets=self.targets[idx],
            classnames=list(self.classnames),
            labels=self.labels[idx],
            labelnames=list(self.labelnames),
            ids=self.ids[idx],
        )

    def _split_names(self, split: str | Mapping[str, np.ndarray] | None) -> list[str | None]:
        if split is None or isinstance(split, str):
            return [split] * len(self)
        return list(_split_per_image(split, len(self), allow_unassigned=True))


def generate_synthetic(
    n: int, seed: int = 0, image_size: int = 128, classes: Sequence[str] | None = None
) -> SyntheticAerial:
    """Draw ``n`` scenes, balanced over ``classes`` (image ``i`` has class ``i % C``; the first
    ``n % C`` classes get one more image). ``classes`` are names from :data:`SCENE_CLASSES`
    (``"storage tanks"`` or ``"storage_tanks"``); default all."""
    if not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"generate_synthetic: n must be a non-negative integer, got {n!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"generate_synthetic: seed must be a non-negative integer, got {seed!r}")
    if not isinstance(image_size, int | np.integer) or image_size < 32:
        raise ValueError(f"generate_synthetic: image_size must be an integer >= 32, got {image_size!r}")
    classnames = _resolve_classes(classes)
    targets = np.arange(n, dtype=np.int64) % len(classnames)
    images = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    labels = np.zeros((n, len(OBJECT_LABELS)), dtype=np.uint8)
    captions: list[tuple[str, ...]] = []
    for i in range(n):
        rng = _Draws(np.random.default_rng([int(seed), i]))
        image, present, caps = _render(classnames[targets[i]], rng, int(image_size))
        images[i] = image
        labels[i, [OBJECT_LABELS.index(p) for p in present]] = 1
        captions.append(caps)
    return SyntheticAerial(
        images=images,
        captions=captions,
        targets=targets,
        classnames=classnames,
        labels=labels,
        labelnames=list(OBJECT_LABELS),
    )


def make_splits(
    n: int,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    targets: Sequence[int] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Stratified train/val/test indices. ``targets`` default to :func:`generate_synthetic`'s class
    assignment over all classes (pass ``data.targets`` for a set made with a ``classes`` subset)."""
    if not (val_fraction >= 0.0 and test_fraction >= 0.0 and val_fraction + test_fraction < 1.0):
        raise ValueError(
            f"make_splits: need val_fraction, test_fraction >= 0 with sum < 1, got {val_fraction} and {test_fraction}"
        )
    t = (np.arange(n) % len(SCENE_CLASSES)) if targets is None else np.asarray(targets).reshape(-1)
    if len(t) != n:
        raise ValueError(f"make_splits: targets has {len(t)} entries, expected n={n}")
    rng = np.random.default_rng([int(seed), 7919])
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(t):
        members = rng.permutation(np.flatnonzero(t == c))
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) if v else np.zeros(0, np.int64) for k, v in parts.items()}


def write_synthetic(
    root: str | Path, data: SyntheticAerial, splits: Mapping[str, np.ndarray] | None = None
) -> dict[str, Path]:
    """Write the set as users' files: ``images/<class_folder>/<id>.png``, a Karpathy caption JSON
    (``captions.json``, file names relative to ``root``) and a multi-label CSV (``labels.csv``:
    ``filepath,labels`` with ``;``-separated names). ``splits`` (``{name: indices}``, disjoint and covering
    every image) defaults to :func:`make_splits` on ``data.targets`` with seed 0."""
    root = Path(root)
    if splits is None:
        splits = make_splits(len(data), seed=0, targets=data.targets)
    split_of = _split_per_image(splits, len(data), allow_unassigned=False)
    if len(np.unique(data.ids)) != len(data):
        raise ValueError(
            "write_synthetic: image repeated image ids (subset with repeated indices?) would overwrite files"
        )
    entries, rows = [], []
    sent_id = 0
    for pos, (image, caps, target, labels, image_id) in enumerate(
        zip(data.images, data.captions, data.targets, data.labels, data.ids.tolist(), strict=True)
    ):
        rel = Path("images") / class_folder(data.classnames[int(target)]) / f"{image_id:05d}.png"
        (root / rel.parent).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / rel)
        sentences = [
            {"raw": c, "tokens": _WORD.findall(c.lower()), "imgid": pos, "sentid": sent_id + j}
            for j, c in enumerate(caps)
        ]
        entries.append(
            {
                "filename": rel.as_posix(),
                "imgid": pos,
                "split": split_of[pos],
                "sentids": list(range(sent_id, sent_id + len(caps))),
                "sentences": sentences,
            }
        )
        sent_id += len(caps)
        rows.append((rel.as_posix(), ";".join(n for n, v in zip(data.labelnames, labels, strict=True) if v)))
    captions_path = root / "captions.json"
    captions_path.write_text(json.dumps({"images": entries, "dataset": "synthetic"}))
    labels_path = root / "labels.csv"
    with labels_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filepath", "labels"])
        writer.writerows(rows)
    return {"root": root, "images": root / "images", "captions": captions_path, "labels": labels_path}


def save_grid(
    data: SyntheticAerial,
    path: str | Path,
    per_class: int = 6,
    thumb_inches: float = 1.0,
    palette_colors: int | None = 256,
) -> Path:
    """A labelled grid for docs: one row per class (its name on the left), the first ``per_class`` images.

    The PNG is reduced to a ``palette_colors`` palette (``None`` keeps full colour): noisy aerial textures
    compress badly, and a palette keeps the figure a few hundred kilobytes."""
    from matplotlib.figure import Figure  # lazy: matplotlib is only needed for figures

    if per_class < 1:
        raise ValueError(f"save_grid: per_class must be >= 1, got {per_class}")
    classes = sorted(set(data.targets.tolist()))
    if not classes:
        raise ValueError("save_grid: the set is empty")
    width = 1.5 + per_class * thumb_inches
    fig = Figure(figsize=(width, len(classes) * thumb_inches), dpi=100)
    axes = fig.subplots(len(classes), per_class, squeeze=False)
    for row, c in enumerate(classes):
        members = np.flatnonzero(data.targets == c)[:per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(members):
                ax.imshow(data.images[members[col]], interpolation="lanczos")
        axes[row, 0].set_ylabel(data.classnames[c], rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=1.4 / width, right=0.995, top=0.995, bottom=0.005, wspace=0.04, hspace=0.04)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    with Image.open(buffer) as rendered:
        picture = rendered.convert("RGB")
    if palette_colors is not None:
        picture = picture.quantize(palette_colors, method=Image.Quantize.FASTOCTREE)
    picture.save(path, optimize=True)
    return path


def _resolve_classes(classes: Sequence[str] | None) -> list[str]:
    if classes is None:
        return list(SCENE_CLASSES)
    if isinstance(classes, str):
        raise ValueError(f"classes must be a list of class names, got the string {classes!r}")
    by_name = {c: c for c in SCENE_CLASSES} | {class_folder(c): c for c in SCENE_CLASSES}
    resolved = []
    for c in classes:
        if c not in by_name:
            raise ValueError(f"unknown synthetic scene class {c!r}; known: {', '.join(SCENE_CLASSES)}")
        if by_name[c] in resolved:
            raise ValueError(f"scene class {c!r} is listed twice")
        resolved.append(by_name[c])
    if not resolved:
        raise ValueError("classes must name at least one scene class")
    return resolved


def _split_per_image(splits: Mapping[str, np.ndarray], n: int, allow_unassigned: bool) -> list[str | None]:
    names: list[str | None] = [None] * n
    for name, indices in splits.items():
        for i in np.asarray(indices, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= i < n:
                raise ValueError(f"split {name!r}: index {i} is outside [0, {n})")
            if names[i] is not None:
                raise ValueError(f"splits overlap: image {i} is in both {names[i]!r} and {name!r}")
            names[i] = name
    if not allow_unassigned and None in names:
        missing = names.index(None)
        raise ValueError(f"splits must cover every image: image {missing} is in none of {sorted(splits)}")
    return names
