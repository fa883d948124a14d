"""The embedded synthetic aerial set: deterministic top-down scenes with classes, multi-labels and captions.

Every test, example and smoke benchmark needs images that look like aerial photographs, carry the three
kinds of annotation the library learns from (a scene class, object labels, free-text captions) and exist
without a download. :func:`generate_synthetic` draws them from a seed: eleven scene classes built from
shared objects (cars are in residential areas, parking lots and freeways; trees almost everywhere) on noisy
textured ground, with random layout, scale, orientation and colour jitter.

The annotations are read off the drawing, never assumed: while shapes are painted, a parallel label map
records which object covers each pixel, and an object label is positive when enough of it is visible.
Captions are written from the scene's facts (counts, colours, sides) and any sentence naming an object that
is not visible is dropped, using :data:`CAPTION_VOCABULARY` (the same map the tests check against).

Image ``i`` is drawn from its own generator seeded with ``(seed, i)``, so the arrays are byte-identical for
the same ``(n, seed, image_size)`` and a larger ``n`` extends a smaller one. Shapes are drawn with PIL at
twice the output size and box-filtered down (cheap anti-aliasing); 2000 images of 128 px take a few seconds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .types import ClassificationSet, ImageCaptions, MultiLabelSet

__all__ = [
    "CAPTION_VOCABULARY",
    "OBJECT_LABELS",
    "SCENE_CLASSES",
    "SyntheticAerial",
    "caption_objects",
    "class_folder",
    "generate_synthetic",
    "make_splits",
    "save_grid",
    "write_synthetic",
]

SCENE_CLASSES: list[str] = [
    "residential",
    "forest",
    "harbor",
    "airport",
    "storage tanks",
    "farmland",
    "river",
    "parking lot",
    "tennis courts",
    "beach",
    "freeway",
]

OBJECT_LABELS: list[str] = [
    "airplane",
    "bare soil",
    "boat",
    "building",
    "car",
    "court",
    "dock",
    "field",
    "grass",
    "pavement",
    "road",
    "sand",
    "tank",
    "tree",
    "water",
]

# Every word a caption may use for an object. A caption word found here implies the label is positive.
CAPTION_VOCABULARY: dict[str, tuple[str, ...]] = {
    "airplane": (
        "airplane",
        "airplanes",
        "plane",
        "planes",
        "aircraft",
        "jet",
        "jets",
        "airliner",
        "airliners",
    ),
    "bare soil": ("soil", "dirt", "earth", "bare"),
    "boat": ("boat", "boats", "ship", "ships", "yacht", "yachts", "vessel", "vessels"),
    "building": (
        "building",
        "buildings",
        "house",
        "houses",
        "home",
        "homes",
        "roof",
        "roofs",
        "terminal",
        "warehouse",
        "warehouses",
        "clubhouse",
    ),
    "car": ("car", "cars", "vehicle", "vehicles", "truck", "trucks", "automobile", "automobiles"),
    "court": ("court", "courts"),
    "dock": ("dock", "docks", "pier", "piers", "jetty", "jetties", "wharf"),
    "field": ("field", "fields", "farmland", "crop", "crops", "cropland", "farm"),
    "grass": ("grass", "grassy", "lawn", "lawns", "meadow", "meadows", "grassland", "turf"),
    "pavement": (
        "pavement",
        "paved",
        "concrete",
        "runway",
        "runways",
        "apron",
        "tarmac",
        "parking",
        "taxiway",
        "driveway",
        "driveways",
    ),
    "road": (
        "road",
        "roads",
        "street",
        "streets",
        "highway",
        "highways",
        "freeway",
        "freeways",
        "lane",
        "lanes",
        "motorway",
    ),
    "sand": ("sand", "sandy", "beach"),
    "tank": ("tank", "tanks"),
    "tree": ("tree", "trees", "forest", "forests", "woods", "woodland", "grove", "canopy"),
    "water": ("water", "sea", "ocean", "river", "lake", "waves", "stream"),
}

_WORD_TO_LABEL: dict[str, str] = {w: label for label, words in CAPTION_VOCABULARY.items() for w in words}
_WORD = re.compile(r"[a-z]+")
_LABEL_ID: dict[str, int] = {name: i + 1 for i, name in enumerate(OBJECT_LABELS)}  # 0 = nothing

_U = 128.0  # layout frame: sizes and positions are given in pixels of a 128 px image, then scaled
# Layout extent that covers the frame at any rotation (half diagonal 90.5 around the centre, plus margin).
_LO, _HI = -30.0, 158.0
_SUPERSAMPLE = 2
_MIN_VISIBLE_AREA = 6.0  # unit pixels an object label needs to be visible to count as present
_N_CAPTIONS = 5
_SHADOW = (0, 0, 0, 95)


def caption_objects(caption: str) -> set[str]:
    """The object labels a caption mentions, via :data:`CAPTION_VOCABULARY`."""
    return {_WORD_TO_LABEL[w] for w in _WORD.findall(caption.lower()) if w in _WORD_TO_LABEL}


def class_folder(name: str) -> str:
    """Folder name of a scene class: ``"storage tanks"`` -> ``"storage_tanks"``."""
    return name.replace(" ", "_")


# ----------------------------------------------------------------------------------------------------------
# The dataset record


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


# ----------------------------------------------------------------------------------------------------------
# Public entry points


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


# ----------------------------------------------------------------------------------------------------------
# Drawing primitives


class _Draws:
    """A numpy Generator whose scalar draws come from a pre-drawn buffer.

    Scenes make thousands of scalar draws (one per house, tree, parking stall); a Generator call costs
    about a microsecond of overhead each, a buffer read a tenth of that. Array draws go to the Generator.
    """

    def __init__(self, gen: np.random.Generator, chunk: int = 512) -> None:
        self.gen = gen
        self._chunk = chunk
        self._buf: list[float] = []
        self._pos = 0

    def random(self, size: int | tuple[int, ...] | None = None):  # noqa: ANN201 - float or array
        if size is not None:
            return self.gen.random(size)
        if self._pos == len(self._buf):
            self._buf = self.gen.random(self._chunk).tolist()
            self._pos = 0
        self._pos += 1
        return self._buf[self._pos - 1]

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | tuple[int, ...] | None = None):  # noqa: ANN201
        if size is not None:
            return self.gen.uniform(low, high, size)
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int | None = None, size: int | tuple[int, ...] | None = None, **kw):  # noqa: ANN201
        if size is not None or kw:
            return self.gen.integers(low, high, size, **kw)
        if high is None:
            low, high = 0, low
        return low + min(int(self.random() * (high - low)), high - low - 1)

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is the Generator's
        return getattr(self.gen, name)


def _jit(rng: _Draws, color: Sequence[int], amount: int) -> tuple[int, int, int]:
    """A colour with one shared brightness shift and a smaller per-channel shift."""
    u = rng.random(4)  # one call: Generator.integers is slow per call and this runs thousands of times
    shared = (u[0] * 2 - 1) * amount
    return tuple(int(min(255, max(0, c + shared + (u[k + 1] * 2 - 1) * amount / 3))) for k, c in enumerate(color[:3]))


def _shade(color: Sequence[int], delta: int) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c + delta))) for c in color[:3])


def _texture(
    rng: _Draws,
    size: int,
    color: Sequence[int],
    contrast: float = 0.1,
    cells: int = 8,
    grain: float = 0.5,
) -> Image.Image:
    """Ground texture: ``color`` modulated by low-frequency blotches and a medium grain.

    Built at half the canvas size (the output resolution) and doubled with nearest-neighbour sampling,
    which the final 2x box filter undoes exactly; a smooth upsampling would cost ten times more. Channels
    are computed as separate planes: numpy broadcasting over a last axis of 3 is several times slower."""
    half = max(size // _SUPERSAMPLE, 8)
    mid = max(half // 3, cells)
    coarse = Image.fromarray(rng.standard_normal((cells, cells)).astype(np.float32))
    fld = np.asarray(coarse.resize((mid, mid), Image.Resampling.BILINEAR))
    fld = fld + np.float32(grain) * rng.standard_normal((mid, mid)).astype(np.float32)
    fld = np.asarray(Image.fromarray(fld).resize((half, half), Image.Resampling.BILINEAR))
    shade = np.float32(1.0) + np.float32(contrast) * fld
    tint = np.asarray(color, np.float64) * (1.0 + 0.025 * rng.standard_normal(3))
    planes = [Image.fromarray(np.clip(shade * np.float32(t), 0, 255).astype(np.uint8)) for t in tint.tolist()]
    return Image.merge("RGB", planes).resize((size, size), Image.Resampling.NEAREST)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _place(local: Sequence[tuple[float, float]], x: float, y: float, angle: float) -> list[tuple[float, float]]:
    """Rotate local shape coordinates by ``angle`` and move them to ``(x, y)``."""
    c, s = math.cos(angle), math.sin(angle)
    return [(x + a * c - b * s, y + a * s + b * c) for a, b in local]


def _rect(x: float, y: float, length: float, width: float, angle: float) -> list[tuple[float, float]]:
    h, w = length / 2, width / 2
    return _place([(-h, -w), (h, -w), (h, w), (-h, w)], x, y, angle)


class _Canvas:
    """An RGB picture plus a parallel map of which object label covers each pixel.

    Shapes are given in layout coordinates (a 128-unit frame) and go through the scene's rotation about
    the frame centre, so a layout can be drawn at any orientation; shadows are offset in image space so
    the sun stays consistent.
    """

    def __init__(
        self,
        size: int,
        background: Image.Image,
        ground_color: Sequence[int],
        ground_label: str,
        sun_angle: float,
    ) -> None:
        self.size = size
        self.ground_color = tuple(ground_color)
        self.ground_label = ground_label
        self.scale = size / _U
        self.image = background
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.label_map = Image.new("L", (size, size), _LABEL_ID[ground_label])
        self.label_draw = ImageDraw.Draw(self.label_map)
        self.shadow_dir = (math.cos(sun_angle), math.sin(sun_angle))  # image-space, away from the sun
        self.set_rotation(0.0)

    def set_rotation(self, angle: float) -> None:
        self.angle = angle
        self._c, self._s = math.cos(angle), math.sin(angle)

    def frame_point(self, x: float, y: float) -> tuple[float, float]:
        dx, dy = x - 64.0, y - 64.0
        return dx * self._c - dy * self._s + 64.0, dx * self._s + dy * self._c + 64.0

    def inside(self, x: float, y: float, margin: float = 0.0) -> bool:
        u, v = self.frame_point(x, y)
        return margin <= u <= _U - margin and margin <= v <= _U - margin

    def toward_sun(self) -> tuple[float, float]:
        """Unit vector pointing to the sun, in layout coordinates (for highlights)."""
        dx, dy = -self.shadow_dir[0], -self.shadow_dir[1]
        return dx * self._c + dy * self._s, -dx * self._s + dy * self._c

    def _px(self, pts: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        c, s, k = self._c, self._s, self.scale
        return [
            (((x - 64.0) * c - (y - 64.0) * s + 64.0) * k, ((x - 64.0) * s + (y - 64.0) * c + 64.0) * k) for x, y in pts
        ]

    def polygon(
        self,
        pts: Sequence[tuple[float, float]],
        fill: Sequence[int],
        label: str | None = None,
        shadow: float = 0.0,
    ) -> None:
        px = self._px(pts)
        if shadow > 0:
            ox, oy = self.shadow_dir[0] * shadow * self.scale, self.shadow_dir[1] * shadow * self.scale
            self.draw.polygon([(x + ox, y + oy) for x, y in px], fill=_SHADOW)
        self.draw.polygon(px, fill=tuple(fill))
        if label is not None:
            self.label_draw.polygon(px, fill=_LABEL_ID[label])

    def circle(
        self, x: float, y: float, r: float, fill: Sequence[int], label: str | None = None, shadow: float = 0.0
    ) -> None:
        ((cx, cy),) = self._px([(x, y)])
        rr = r * self.scale
        if shadow > 0:
            ox, oy = self.shadow_dir[0] * shadow * self.scale, self.shadow_dir[1] * shadow * self.scale
            self.draw.ellipse((cx + ox - rr, cy + oy - rr, cx + ox + rr, cy + oy + rr), fill=_SHADOW)
        self.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=tuple(fill))
        if label is not None:
            self.label_draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=_LABEL_ID[label])

    def line(
        self, pts: Sequence[tuple[float, float]], width: float, fill: Sequence[int], label: str | None = None
    ) -> None:
        px = self._px(pts)
        w = max(1, round(width * self.scale))
        self.draw.line(px, fill=tuple(fill), width=w)
        if label is not None:
            self.label_draw.line(px, fill=_LABEL_ID[label], width=w)

    def paint(self, pts: Sequence[tuple[float, float]], texture: Image.Image, label: str | None) -> None:
        """Fill a polygon with a texture image (same size as the canvas)."""
        px = self._px(pts)
        mask = Image.new("L", (self.size, self.size), 0)
        ImageDraw.Draw(mask).polygon(px, fill=255)
        self.image.paste(texture, (0, 0), mask)
        if label is not None:
            self.label_draw.polygon(px, fill=_LABEL_ID[label])

    def texture(self, rng: _Draws, color: Sequence[int], **kwargs: float) -> Image.Image:
        return _texture(rng, self.size, color, **kwargs)  # type: ignore[arg-type]

    def visible_labels(self) -> list[str]:
        counts = self.label_map.histogram()
        need = _MIN_VISIBLE_AREA * self.scale * self.scale
        return [name for name in OBJECT_LABELS if counts[_LABEL_ID[name]] >= need]


# Colours (RGB) with the words captions use for them.
_GRASS = (92, 122, 62)
_DRY_GRASS = (128, 132, 84)
_SOIL = (146, 118, 88)
_SAND = (214, 198, 158)
_PAVEMENT = (150, 149, 145)
_ASPHALT = (98, 98, 100)
_WHITE = (232, 232, 228)
_TREE = (54, 86, 44)
_ROOFS = [
    ("red", (158, 72, 56)),
    ("brown", (122, 92, 72)),
    ("grey", (128, 128, 132)),
    ("dark grey", (82, 82, 88)),
    ("white", (206, 206, 200)),
    ("orange", (192, 112, 70)),
]
_CARS = [
    ("white", (228, 228, 225)),
    ("black", (34, 34, 40)),
    ("silver", (172, 174, 178)),
    ("red", (172, 40, 36)),
    ("blue", (44, 70, 140)),
    ("grey", (112, 112, 116)),
]
_WATERS = [
    ("dark blue", (36, 66, 98)),
    ("blue", (46, 86, 122)),
    ("dark green", (44, 78, 80)),
    ("green", (56, 96, 92)),
]
_BOATS = [
    ("white", (236, 236, 234)),
    ("blue", (56, 92, 160)),
    ("red", (170, 52, 44)),
    ("yellow", (214, 188, 70)),
]
_COURTS = [
    ("green", (62, 128, 84), (46, 100, 66)),
    ("blue", (52, 92, 150), (62, 120, 80)),
    ("red", (176, 86, 60), (176, 86, 60)),
    ("blue", (48, 84, 140), (50, 120, 110)),
]
_TANKS = [("white", (226, 226, 222)), ("light grey", (190, 190, 188)), ("white", (236, 234, 226))]


def _pick(rng: _Draws, options: Sequence):  # noqa: ANN202 - generic helper
    return options[int(rng.integers(len(options)))]


def _trees(
    cv: _Canvas,
    rng: _Draws,
    xs: np.ndarray,
    ys: np.ndarray,
    rs: np.ndarray,
    base: Sequence[int] | np.ndarray = _TREE,
    spread: int = 12,
) -> int:
    """Round crowns with a shadow and a sunlit highlight; returns how many have their centre in frame.

    ``base`` is one colour or one per tree, (n, 3)."""
    n = len(xs)
    if n == 0:
        return 0
    base = np.asarray(base).reshape(-1, 3)
    cols = np.clip(base + rng.integers(-spread, spread + 1, size=(n, 1)) + rng.integers(-5, 6, size=(n, 3)), 0, 255)
    sx, sy = cv.toward_sun()
    visible = 0
    for x, y, r, col in zip(xs.tolist(), ys.tolist(), rs.tolist(), cols.tolist(), strict=True):
        if not cv.inside(x, y, -r - 3):
            continue
        visible += cv.inside(x, y, 1.0)
        cv.circle(x, y, r, col, "tree", shadow=r * 0.55)
        cv.circle(x + sx * r * 0.28, y + sy * r * 0.28, r * 0.55, _shade(col, 20))
    return visible


def _car(
    cv: _Canvas,
    x: float,
    y: float,
    angle: float,
    color: Sequence[int],
    length: float = 7.0,
    width: float = 3.4,
) -> None:
    cv.polygon(_rect(x, y, length, width, angle), color, "car", shadow=0.7)
    c, s = math.cos(angle), math.sin(angle)
    glass = (38, 44, 54)
    cv.polygon(_rect(x + c * length * 0.17, y + s * length * 0.17, length * 0.18, width * 0.8, angle), glass)


def _house(cv: _Canvas, x: float, y: float, length: float, depth: float, angle: float, roof: Sequence[int]) -> None:
    """A gable roof seen from above: two halves of different shade."""
    cv.polygon(_rect(x, y, length, depth, angle), roof, "building", shadow=2.0)
    nx, ny = -math.sin(angle), math.cos(angle)
    q = depth / 4
    cv.polygon(_rect(x + nx * q, y + ny * q, length, depth / 2, angle), _shade(roof, -26))


def _boat(cv: _Canvas, x: float, y: float, angle: float, length: float, width: float, color: Sequence[int]) -> None:
    h, w = length / 2, width / 2
    hull = [(-h, -w), (h * 0.45, -w), (h, 0.0), (h * 0.45, w), (-h, w)]
    cv.polygon(_place(hull, x, y, angle), color, "boat", shadow=0.8)
    c, s = math.cos(angle), math.sin(angle)
    cabin = _shade(color, -40) if sum(color) > 600 else (228, 228, 226)
    cv.polygon(_rect(x - c * h * 0.15, y - s * h * 0.15, length * 0.34, width * 0.55, angle), cabin)


def _airplane(cv: _Canvas, x: float, y: float, angle: float, length: float, color: Sequence[int]) -> None:
    L, S = length, length * 0.95
    w = L * 0.06
    body = [(-L / 2, -w), (L * 0.36, -w), (L / 2, 0.0), (L * 0.36, w), (-L / 2, w)]
    wings = [
        (L * 0.1, 0.0),
        (-L * 0.12, -S / 2),
        (-L * 0.21, -S / 2),
        (-L * 0.08, 0.0),
        (-L * 0.21, S / 2),
        (-L * 0.12, S / 2),
    ]
    tail = [
        (-L * 0.36, 0.0),
        (-L * 0.46, -S * 0.17),
        (-L * 0.5, -S * 0.17),
        (-L * 0.46, 0.0),
        (-L * 0.5, S * 0.17),
        (-L * 0.46, S * 0.17),
    ]
    for part in (wings, tail, body):
        cv.polygon(_place(part, x, y, angle), color, "airplane", shadow=1.6)
    engine = _shade(color, -60)
    for side in (-1, 1):
        ex, ey = _place([(-L * 0.02, side * S * 0.2)], x, y, angle)[0]
        cv.polygon(_rect(ex, ey, L * 0.1, w * 1.2, angle), engine)


def _tank(cv: _Canvas, x: float, y: float, r: float, body: Sequence[int]) -> None:
    sx, sy = cv.toward_sun()
    cv.circle(x, y, r, body, "tank", shadow=r * 0.35)
    cv.circle(x, y, r * 0.86, _shade(body, -34))
    cv.circle(x + sx * r * 0.07, y + sy * r * 0.07, r * 0.8, _shade(body, -8))
    cv.circle(x, y, r * 0.1, _shade(body, -70))


# ----------------------------------------------------------------------------------------------------------
# Scenes: each draws on the canvas and returns facts for the captions


Facts = dict[str, object]


def _scene_residential(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    sparse = rng.random() < 0.35
    spacing = rng.uniform(52, 62) if sparse else rng.uniform(42, 50)
    road_w = rng.uniform(6.0, 8.0)
    road_col = _jit(rng, (112, 110, 106), 10)
    ys = np.arange(_LO - 6 + rng.uniform(0, spacing), _HI + 6, spacing).tolist()
    cross_x = rng.uniform(24, 104) if rng.random() < 0.55 else None
    for y in ys:
        cv.polygon(_box(_LO, y - road_w / 2, _HI, y + road_w / 2), road_col, "road")
    if cross_x is not None:
        cv.polygon(_box(cross_x - road_w / 2, _LO, cross_x + road_w / 2, _HI), road_col, "road")
    roof_name, roof_rgb = _pick(rng, _ROOFS)
    mixed = rng.random() < 0.4
    length = rng.uniform(13, 16) if sparse else rng.uniform(10, 13)
    depth = length * rng.uniform(0.68, 0.82)
    pitch = length + (rng.uniform(9, 15) if sparse else rng.uniform(2.5, 5))
    setback = rng.uniform(2.5, 5.5)
    drive_col = _jit(rng, (178, 174, 166), 8)
    houses, drives, cars, tree_pts = [], [], [], []
    for y in ys:
        for side in (-1, 1):
            yc = y + side * (road_w / 2 + setback + depth / 2)
            x = _LO - 6 + rng.uniform(0, pitch)
            while x < _HI:
                here, x = x, x + pitch * rng.uniform(0.96, 1.08)
                if not cv.inside(here, yc, -14):
                    continue
                if cross_x is not None and abs(here - cross_x) < road_w / 2 + length / 2 + 1.5:
                    continue
                if rng.random() < 0.08:
                    continue
                roof = _pick(rng, _ROOFS)[1] if mixed and rng.random() < 0.5 else roof_rgb
                houses.append((here + rng.uniform(-1, 1), yc + rng.uniform(-0.7, 0.7), _jit(rng, roof, 10)))
                if rng.random() < 0.5:
                    dx = here + length * 0.32 * (1 if rng.random() < 0.5 else -1)
                    y0, y1 = sorted((y + side * road_w / 2, yc - side * depth / 2))
                    drives.append(_box(dx - 1.7, y0, dx + 1.7, y1))
                    if rng.random() < 0.3:
                        cars.append((dx, (y0 + y1) / 2, math.pi / 2, _pick(rng, _CARS)[1]))
                for _ in range(int(rng.integers(0, 3 if sparse else 2) + 1)):
                    if rng.random() < 0.65:
                        tree_pts.append(
                            (
                                here + rng.uniform(-length / 2, length / 2),
                                yc + side * (depth / 2 + rng.uniform(3, 14)),
                                rng.uniform(2.6, 5.2),
                            )
                        )
    for pts in drives:
        cv.polygon(pts, drive_col, "pavement")
    house_angle = 0.0
    for x, y, roof in houses:
        _house(cv, x, y, length, depth, house_angle, roof)
    if tree_pts:
        t = np.asarray(tree_pts)
        n_trees = _trees(cv, rng, t[:, 0], t[:, 1], t[:, 2])
    else:
        n_trees = 0
    for _ in range(int(rng.integers(0, 7))):
        y = _pick(rng, ys) + road_w * (0.22 if rng.random() < 0.5 else -0.22)
        x = rng.uniform(-10, 138)
        cars.append((x, y, 0.0 if rng.random() < 0.5 else math.pi, _pick(rng, _CARS)[1]))
    for x, y, a, col in cars:
        if cv.inside(x, y, -4):
            _car(cv, x, y, a, col, length=6.5, width=3.2)
    return {
        "houses": sum(cv.inside(x, y, 2) for x, y, _ in houses),
        "cars": sum(cv.inside(x, y, 1) for x, y, _, _ in cars),
        "trees": n_trees,
        "roof": "mixed" if mixed else roof_name,
        "sparse": sparse,
        "cross": cross_x is not None,
        "direction": _direction_words(cv.angle),
    }


def _scene_forest(cv: _Canvas, rng: _Draws) -> Facts:
    base = _pick(rng, [(50, 82, 42), (58, 88, 46), (46, 74, 40), (64, 90, 50)])
    path = rng.random() < 0.3
    if path:
        cv.set_rotation(rng.uniform(0, math.pi))
        ys = np.arange(_LO - 4, _HI + 5, 4.0)
        xs = 64 + rng.uniform(8, 20) * np.sin(ys / rng.uniform(30, 50) + rng.uniform(0, 6.3))
        cv.line(
            list(zip(xs.tolist(), ys.tolist(), strict=True)),
            rng.uniform(4.5, 6.5),
            _jit(rng, (170, 140, 104), 10),
            "bare soil",
        )
        cv.set_rotation(0.0)
    n = int(rng.integers(100, 150))
    xs, ys = rng.uniform(-6, 134, n), rng.uniform(-6, 134, n)
    rs = rng.uniform(4.0, 8.0, n)
    autumn = rng.random() < 0.2
    bases = np.tile(np.asarray(base), (n, 1))
    if autumn:  # a few yellowing crowns mixed into the canopy
        bases[rng.random(n) < rng.uniform(0.08, 0.2)] = (128, 112, 52)
    _trees(cv, rng, xs, ys, rs, base=bases, spread=14)
    return {"path": path, "autumn": autumn, "shade": "dark green" if sum(base) < 175 else "green"}


def _scene_harbor(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    land = rng.uniform(14, 26)
    cv.paint(_box(-4, -4, 132, land), cv.texture(rng, _jit(rng, _PAVEMENT, 14), contrast=0.05), "pavement")
    cv.line([(-4, land), (132, land)], 1.0, (70, 70, 70))
    buildings = rng.random() < 0.75
    if buildings:
        x = rng.uniform(-8, 6)
        while x < 128:
            w = rng.uniform(14, 30)
            d = rng.uniform(7, max(8.0, land - 5))
            cv.polygon(
                _box(x, land - 2.5 - d, x + w, land - 2.5),
                _jit(rng, _pick(rng, _ROOFS[2:5])[1], 12),
                "building",
                shadow=2.0,
            )
            x += w + rng.uniform(4, 14)
    marina = rng.random() < 0.65
    pier_col = _jit(rng, (176, 166, 146), 12)
    boat_name, boat_rgb = ("white", _BOATS[0][1]) if rng.random() < 0.75 else _pick(rng, _BOATS)
    boats = 0
    if marina:
        n_piers = int(rng.integers(2, 5))
        gap = _U / n_piers
        pier_w = rng.uniform(2.4, 3.4)
        boat_len = rng.uniform(9, 13) * (0.85 if n_piers == 4 else 1.0)
        boat_w = boat_len * rng.uniform(0.36, 0.44)
        occupancy = rng.uniform(0.4, 0.92)
        for k in range(n_piers):
            px = gap * (k + 0.5) + rng.uniform(-3, 3)
            end = land + rng.uniform(0.45, 0.95) * (_U - land - 4)
            cv.polygon(_box(px - pier_w / 2, land - 1, px + pier_w / 2, end), pier_col, "dock", shadow=0.6)
            for side in (-1, 1):
                bx = px + side * (pier_w / 2 + 0.8 + boat_len / 2)
                if not bx - boat_len / 2 >= 1 and bx + boat_len / 2 <= _U - 1:
                    continue
                y = land + boat_w / 2 + 1.5
                while y + boat_w / 2 < end:
                    if rng.random() < occupancy:
                        col = boat_rgb if rng.random() < 0.8 else _pick(rng, _BOATS)[1]
                        _boat(cv, bx, y, math.pi if side > 0 else 0.0, boat_len, boat_w, _jit(rng, col, 8))
                        boats += 1
                    y += boat_w + rng.uniform(1.0, 2.2)
        piers = n_piers
    else:
        piers = int(rng.integers(1, 3))
        for k in range(piers):
            px = (k + 0.5) * _U / piers + rng.uniform(-6, 6)
            pier_w = rng.uniform(5, 7)
            cv.polygon(
                _box(px - pier_w / 2, land - 1, px + pier_w / 2, _U - rng.uniform(6, 14)),
                pier_col,
                "dock",
                shadow=0.8,
            )
            ship_len = rng.uniform(32, 52)
            ship_w = ship_len * rng.uniform(0.2, 0.26)
            for side in (-1, 1):
                sx = px + side * (pier_w / 2 + 0.8 + ship_w / 2)
                if rng.random() < 0.7 and sx - ship_w / 2 >= 1 and sx + ship_w / 2 <= _U - 1:
                    hull = _jit(rng, _pick(rng, [(120, 42, 38), (52, 60, 92), (60, 60, 64), (220, 220, 216)]), 10)
                    y = land + 3 + ship_len / 2 + rng.uniform(0, 8)
                    _boat(cv, sx, y, math.pi / 2, ship_len, ship_w, hull)
                    boats += 1
        if boats == 0:
            _boat(cv, _U / 2 / piers + 12, land + 34, math.pi / 2, 34, 8, (52, 60, 92))
            boats = 1
        boat_name = "large"
    if boats == 0:  # a harbour without a boat would be mislabelled: moor one at the first pier's tip
        _boat(cv, 10, land + 14, 0.0, 11, 4.5, boat_rgb)
        boats = 1
    u, v = cv.frame_point(64, land / 2)
    return {
        "boats": boats,
        "boat_color": boat_name,
        "piers": piers,
        "marina": marina,
        "buildings": buildings,
        "land_side": _side_word(u, v),
    }


def _scene_airport(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    ry, rw = rng.uniform(16, 32), rng.uniform(13, 17)
    runway = _jit(rng, (92, 92, 96), 8)
    cv.polygon(_box(-10, ry - rw / 2, 138, ry + rw / 2), runway, "pavement")
    for side in (-1, 1):
        cv.line([(-10, ry + side * (rw / 2 - 1.2)), (138, ry + side * (rw / 2 - 1.2))], 0.6, _WHITE)
    for x in np.arange(rng.uniform(-10, 0), 132, 11.0).tolist():
        cv.polygon(_box(x, ry - 0.45, x + 5.5, ry + 0.45), _WHITE)
    ty = ry + rw / 2 + rng.uniform(7, 12)
    taxi = _shade(runway, 14)
    cv.polygon(_box(-10, ty - 2.6, 138, ty + 2.6), taxi, "pavement")
    cv.line([(-10, ty), (138, ty)], 0.5, (206, 182, 70))
    for x in rng.uniform(10, 118, 2).tolist():
        cv.polygon(_box(x - 2.6, ry, x + 2.6, ty), taxi, "pavement")
    terminal = rng.random() < 0.75
    depth = rng.uniform(10, 16) if terminal else 0.0
    top, bottom = ty + 4.5, _U - depth
    cv.polygon(_box(-4, top, 132, _U + 4), _jit(rng, (168, 166, 160), 10), "pavement")
    if terminal:
        roof = _jit(rng, _pick(rng, [(200, 200, 198), (140, 142, 148), (176, 170, 160)]), 8)
        cv.polygon(_box(-4, bottom, 132, _U + 4), roof, "building", shadow=2.5)
        for x in np.arange(rng.uniform(2, 10), 124, rng.uniform(16, 26)).tolist():
            cv.polygon(_box(x, bottom + 3, x + 5, bottom + depth - 3), _shade(roof, -30))
    length = min(rng.uniform(22, 30), bottom - top - 3)
    span = length * 0.95
    slots = max(1, int((_U - 4) // (span + 3)))
    n_planes = int(rng.integers(1, min(4, slots) + 1))
    chosen = np.sort(rng.choice(slots, size=n_planes, replace=False))
    x0 = (_U - slots * (span + 3)) / 2 + (span + 3) / 2
    colour_name, colour = ("white", (236, 236, 234)) if rng.random() < 0.8 else ("grey", (196, 198, 204))
    heading = math.pi / 2 if terminal or rng.random() < 0.5 else -math.pi / 2
    for s in chosen.tolist():
        _airplane(
            cv,
            x0 + s * (span + 3),
            (top + bottom) / 2 + rng.uniform(-2, 2),
            heading,
            length,
            _jit(rng, colour, 6),
        )
    taxiing = rng.random() < 0.3
    if taxiing:
        _airplane(
            cv,
            rng.uniform(22, 106),
            ry if rng.random() < 0.5 else ty,
            0.0 if rng.random() < 0.5 else math.pi,
            rng.uniform(22, 28),
            _jit(rng, colour, 6),
        )
    u, v = cv.frame_point(64, ry)
    return {
        "planes": n_planes + taxiing,
        "parked": n_planes,
        "taxiing": taxiing,
        "terminal": terminal,
        "plane_color": colour_name,
        "runway_side": _side_word(u, v),
    }


def _scene_storage_tanks(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    road = rng.random() < 0.55
    if road:
        cv.polygon(_box(-4, 118, 132, 126), _jit(rng, _ASPHALT, 10), "road")
    if rng.random() < 0.35:  # an irregular patch of grass in a corner
        a = np.linspace(0, math.pi / 2, 9)
        rad = rng.uniform(22, 44) * (1 + 0.15 * rng.standard_normal(9))
        blob = [(-4.0, -4.0)] + list(zip((rad * np.cos(a) - 4).tolist(), (rad * np.sin(a) - 4).tolist(), strict=True))
        cv.paint(blob, cv.texture(rng, _jit(rng, _GRASS, 10)), "grass")
    x0, y0, x1, y1 = 4.0, 4.0, 124.0, 114.0 if road else 124.0
    tank_name, tank_rgb = _pick(rng, _TANKS)
    tanks: list[tuple[float, float, float]] = []
    if rng.random() < 0.6:  # a regular grid, often with a containment berm
        rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        if rows * cols == 1:
            cols = 2
        cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
        r = min(18.0, min(cw, ch) / 2 * rng.uniform(0.62, 0.86))
        for i in range(rows):
            for j in range(cols):
                if rng.random() > 0.1:
                    tanks.append((x0 + cw * (j + 0.5), y0 + ch * (i + 0.5), r))
        if not tanks:
            tanks.append((x0 + cw / 2, y0 + ch / 2, r))
        layout = "grid" if rows > 1 else "row"
        if rng.random() < 0.6:
            cv.line(_box(x0 + 1, y0 + 1, x1 - 1, y1 - 1) + [(x0 + 1, y0 + 1)], 1.6, _shade(cv.ground_color, 30))
    else:
        for _ in range(40):
            r = rng.uniform(6, 16)
            x, y = rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r)
            if all((x - a) ** 2 + (y - b) ** 2 > (r + c + 2.5) ** 2 for a, b, c in tanks):
                tanks.append((x, y, r))
            if len(tanks) >= 9:
                break
        layout = "cluster"
    for x, y, r in tanks:
        _tank(cv, x, y, r, _jit(rng, tank_rgb, 8))
    if len(tanks) > 1 and rng.random() < 0.5:  # pipes between neighbours
        pts = [(x, y) for x, y, _ in tanks]
        cv.line(pts, 0.6, (120, 120, 118))
        for x, y, r in tanks:
            _tank(cv, x, y, r, _jit(rng, tank_rgb, 4))
    sizes = [r for _, _, r in tanks]
    return {
        "tanks": len(tanks),
        "tank_color": tank_name,
        "layout": layout,
        "road": road,
        "varied": max(sizes) > 1.4 * min(sizes),
        "ground": cv.ground_label,
    }


def _scene_farmland(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    crops = [
        ("green", (92, 132, 62)),
        ("light green", (136, 160, 86)),
        ("yellow", (196, 180, 106)),
        ("brown", (142, 112, 80)),
        ("dark green", (70, 104, 52)),
        ("yellow", (184, 170, 110)),
    ]
    seen: set[str] = set()
    x = -44 + rng.uniform(-10, 0)
    parcels = 0
    while x < 172:
        w = rng.uniform(26, 58)
        y = -44 + rng.uniform(-10, 0)
        while y < 172:
            h = rng.uniform(22, 52)
            cx, cy = x + w / 2, y + h / 2
            if cv.inside(cx, cy, -math.hypot(w, h) / 2):
                name, col = _pick(rng, crops)
                col = _jit(rng, col, 10)
                g = 0.8
                cv.polygon(_box(x + g, y + g, x + w - g, y + h - g), col, "field")
                if rng.random() < 0.8:
                    step = rng.uniform(2.2, 3.6)
                    dark = _shade(col, -int(rng.integers(12, 24)))
                    if rng.random() < 0.5:
                        for sy in np.arange(y + g, y + h - g - step / 2, step).tolist():
                            cv.polygon(_box(x + g, sy, x + w - g, sy + step / 2), dark)
                    else:
                        for sx in np.arange(x + g, x + w - g - step / 2, step).tolist():
                            cv.polygon(_box(sx, y + g, sx + step / 2, y + h - g), dark)
                if cv.inside(cx, cy, 10):
                    seen.add(name)
                parcels += cv.inside(cx, cy, 0)
            y += h
        x += w
    road = rng.random() < 0.45
    if road:
        ry = rng.uniform(30, 98)
        cv.polygon(_box(_LO, ry - 1.8, _HI, ry + 1.8), _jit(rng, (184, 164, 128), 10), "road")
    hedge = rng.random() < 0.4
    if hedge:
        hx = rng.uniform(20, 108)
        ys = np.arange(_LO, _HI, rng.uniform(4, 6))
        _trees(cv, rng, hx + rng.uniform(-1, 1, len(ys)), ys, rng.uniform(2.5, 4, len(ys)))
    return {"colors": sorted(seen), "parcels": max(parcels, 1), "road": road, "hedge": hedge}


def _river_band(cv: _Canvas, rng: _Draws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ys = np.arange(_LO - 4, _HI + 5, 4.0)
    amp, period, phase = rng.uniform(8, 24), rng.uniform(70, 160), rng.uniform(0, 2 * math.pi)
    xs = 64 + rng.uniform(-10, 10) + amp * np.sin(2 * math.pi * ys / period + phase)
    half = rng.uniform(6, 13) + 1.8 * np.sin(ys / rng.uniform(15, 30) + rng.uniform(0, 6.3))
    return xs, ys, half


def _band_polygon(xs: np.ndarray, ys: np.ndarray, half: np.ndarray) -> list[tuple[float, float]]:
    left = list(zip((xs - half).tolist(), ys.tolist(), strict=True))
    right = list(zip((xs + half).tolist(), ys.tolist(), strict=True))
    return left + right[::-1]


def _scene_river(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    xs, ys, half = _river_band(cv, rng)
    sandy = rng.random() < 0.5
    if sandy:
        cv.paint(
            _band_polygon(xs, ys, half + rng.uniform(2.5, 5)),
            cv.texture(rng, _jit(rng, _SAND, 12), contrast=0.05),
            "sand",
        )
    water_name, water = _pick(rng, _WATERS)
    cv.paint(_band_polygon(xs, ys, half), cv.texture(rng, _jit(rng, water, 10), contrast=0.06), "water")
    k = int(rng.integers(30, 80))
    idx = rng.integers(0, len(ys), k)
    side = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    off = half[idx] + (5 if sandy else 2.5) + rng.exponential(6, k)
    tx = xs[idx] + side * off
    ty = ys[idx] + rng.uniform(-2, 2, k)
    k2 = int(rng.integers(0, 12))
    tx = np.concatenate([tx, rng.uniform(-20, 148, k2)])
    ty = np.concatenate([ty, rng.uniform(-20, 148, k2)])
    rs = rng.uniform(2.8, 6, len(tx))
    keep = np.abs(tx - np.interp(ty, ys, xs)) > np.interp(ty, ys, half) + rs * 0.6
    n_trees = _trees(cv, rng, tx[keep], ty[keep], rs[keep])
    bridge = rng.random() < 0.2
    if bridge:
        by = rng.uniform(40, 88)
        bx = float(np.interp(by, ys, xs))
        cv.polygon(_box(_LO, by - 3, _HI, by + 3), _jit(rng, _ASPHALT, 10), "road", shadow=1.5)
        cv.line([(bx - 20, by - 3), (bx + 20, by - 3)], 0.5, (200, 200, 196))
        cv.line([(bx - 20, by + 3), (bx + 20, by + 3)], 0.5, (200, 200, 196))
    return {
        "sandy": sandy,
        "trees": n_trees,
        "bridge": bridge,
        "water": water_name,
        "direction": _direction_words(cv.angle + math.pi / 2),
    }


def _scene_parking_lot(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2 + rng.uniform(-0.35, 0.35))
    stall_w, depth = rng.uniform(5.4, 6.2), rng.uniform(10, 11.5)
    aisle = rng.uniform(11, 15)
    period = 2 * depth + aisle
    occupancy = rng.uniform(0.45, 0.97)
    island = rng.random() < 0.45
    paint = (222, 222, 214)
    cars, rows = 0, 0
    y = _LO - 10 + rng.uniform(0, period)
    island_row = int(rng.integers(1, 4))
    row_index = 0
    while y < _HI:
        if island and row_index == island_row:  # a planted strip instead of a double row
            cv.polygon(_box(_LO, y + depth - 3, _HI, y + depth + 3), _jit(rng, _GRASS, 10), "grass")
            n = 30
            _trees(
                cv,
                rng,
                np.linspace(_LO, _HI, n) + rng.uniform(-2, 2, n),
                np.full(n, y + depth) + rng.uniform(-0.8, 0.8, n),
                rng.uniform(2.8, 4.2, n),
            )
        else:
            for x in np.arange(_LO, _HI, stall_w).tolist():
                if not cv.inside(x, y + depth, -depth - 5):
                    continue
                cv.line([(x, y), (x, y + 2 * depth)], 0.5, paint)
                for row_y, facing in ((y + depth / 2, -1), (y + 1.5 * depth, 1)):
                    if rng.random() < occupancy and cv.inside(x + stall_w / 2, row_y, -6):
                        ang = math.pi / 2 * facing + rng.uniform(-0.06, 0.06)
                        _car(
                            cv,
                            x + stall_w / 2,
                            row_y + rng.uniform(-0.5, 0.5),
                            ang,
                            _jit(rng, _pick(rng, _CARS)[1], 10),
                            length=rng.uniform(7.6, 8.6),
                            width=3.7,
                        )
                        cars += cv.inside(x + stall_w / 2, row_y, 1)
            cv.line([(_LO, y + depth), (_HI, y + depth)], 0.4, paint)
            rows += 2 * cv.inside(64, y + depth, -8)
        y += period
        row_index += 1
    return {"cars": cars, "full": occupancy > 0.8, "rows": rows, "island": island}


def _scene_tennis_courts(cv: _Canvas, rng: _Draws) -> Facts:
    n = int(rng.integers(1, 5))
    pad_w, pad_h = 36.0, 19.0 * n + 2
    for attempt in range(12):
        angle = rng.uniform(0, math.pi) if attempt < 10 else 0.0
        cx, cy = (64 + rng.uniform(-24, 24), 64 + rng.uniform(-24, 24)) if attempt < 11 else (64.0, 64.0)
        cv.set_rotation(angle)
        if all(cv.inside(x, y, 2) for x, y in _box(cx - pad_w / 2, cy - pad_h / 2, cx + pad_w / 2, cy + pad_h / 2)):
            break
    color_name, court, surround = _pick(rng, _COURTS)
    paved = rng.random() < 0.4
    if paved:  # a paved path or car park beside the courts
        cv.polygon(
            _box(cx - pad_w / 2 - 12, cy + pad_h / 2, cx + pad_w / 2 + 12, cy + pad_h / 2 + 10),
            _jit(rng, _PAVEMENT, 10),
            "pavement",
        )
    cv.polygon(
        _box(cx - pad_w / 2, cy - pad_h / 2, cx + pad_w / 2, cy + pad_h / 2),
        _jit(rng, surround, 8),
        "court",
        shadow=0.4,
    )
    court = _jit(rng, court, 8)
    for k in range(n):
        y = cy - pad_h / 2 + 1 + 19 * (k + 0.5)
        cv.polygon(_box(cx - 13, y - 6, cx + 13, y + 6), court)
        lines = [
            [(cx - 13, y - 6), (cx + 13, y - 6), (cx + 13, y + 6), (cx - 13, y + 6), (cx - 13, y - 6)],
            [(cx - 13, y - 4.5), (cx + 13, y - 4.5)],
            [(cx - 13, y + 4.5), (cx + 13, y + 4.5)],
            [(cx - 7, y - 4.5), (cx - 7, y + 4.5)],
            [(cx + 7, y - 4.5), (cx + 7, y + 4.5)],
            [(cx - 7, y), (cx + 7, y)],
        ]
        for pts in lines:
            cv.line(pts, 0.55, (238, 238, 236))
        cv.line([(cx, y - 6.8), (cx, y + 6.8)], 0.7, (50, 50, 52))
    building = rng.random() < 0.35
    if building:
        bx = cx + (pad_w / 2 + 9) * (1 if rng.random() < 0.5 else -1)
        cv.polygon(_rect(bx, cy, 10, 14, 0.0), _jit(rng, _pick(rng, _ROOFS)[1], 10), "building", shadow=2.0)
    k = int(rng.integers(10, 45))
    tx, ty = rng.uniform(-30, 158, 4 * k), rng.uniform(-30, 158, 4 * k)
    rs = rng.uniform(2.8, 6, 4 * k)
    margin = 2 + rs + (12 if building else 0)
    clear = (np.abs(tx - cx) > pad_w / 2 + margin) | (np.abs(ty - cy) > pad_h / 2 + margin + (10 if paved else 0))
    n_trees = _trees(cv, rng, tx[clear][:k], ty[clear][:k], rs[clear][:k])
    u, v = cv.frame_point(cx, cy)
    return {
        "courts": n,
        "color": color_name,
        "trees": n_trees,
        "building": building,
        "paved": paved,
        "where": _region_word(u, v),
    }


def _scene_beach(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2 + rng.uniform(-0.3, 0.3))
    ys = np.arange(_LO - 4, _HI + 5, 4.0)
    shore = rng.uniform(50, 78) + rng.uniform(3, 10) * np.sin(ys / rng.uniform(14, 40) + rng.uniform(0, 6.3))
    water_name, deep = _pick(rng, _WATERS[:2] + [("turquoise", (52, 110, 126))])
    cv.polygon(_band_polygon((shore - 8 + 200) / 2, ys, (200 - shore + 8) / 2), _shade(_SAND, -34))  # wet sand
    cv.paint(
        _band_polygon((shore + 200) / 2, ys, (200 - shore) / 2),
        cv.texture(rng, _jit(rng, _shade(deep, 30), 8), contrast=0.05),
        "water",
    )
    shallow = rng.uniform(8, 18)
    cv.paint(
        _band_polygon((shore + shallow + 200) / 2, ys, (200 - shore - shallow) / 2),
        cv.texture(rng, _jit(rng, deep, 8), contrast=0.05),
        "water",
    )
    for k in range(int(rng.integers(2, 5))):
        off = 1.5 + k * rng.uniform(3, 6)
        cv.line(
            list(zip((shore + off + rng.uniform(-1, 1)).tolist(), ys.tolist(), strict=True)),
            rng.uniform(0.6, 1.4),
            (240, 240, 236, 170 - 30 * k),
        )
    trees = rng.random() < 0.5
    n_trees = 0
    if trees:
        k = int(rng.integers(10, 40))
        n_trees = _trees(
            cv,
            rng,
            rng.uniform(-30, rng.uniform(10, 24), k),
            rng.uniform(_LO, _HI, k),
            rng.uniform(2.8, 5.5, k),
        )
    buildings = rng.random() < 0.25
    if buildings:
        for y in np.arange(rng.uniform(-30, 0), 160, rng.uniform(22, 32)).tolist():
            if cv.inside(4, y, -10):
                cv.polygon(
                    _box(-20, y, 6 + rng.uniform(0, 10), y + rng.uniform(12, 18)),
                    _jit(rng, _pick(rng, _ROOFS)[1], 10),
                    "building",
                    shadow=2.0,
                )
    umbrellas = rng.random() < 0.4
    if umbrellas:
        k = int(rng.integers(6, 20))
        uy = rng.uniform(-10, 138, k)
        ux = np.interp(uy, ys, shore) - rng.uniform(6, 24, k)
        for x, y in zip(ux.tolist(), uy.tolist(), strict=True):
            cv.circle(
                x,
                y,
                rng.uniform(1.4, 2.2),
                _pick(rng, [(220, 60, 50), (240, 200, 60), (60, 110, 200), (240, 240, 240)]),
                shadow=0.8,
            )
    boats = 0
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            by = rng.uniform(12, 116)
            bx = float(np.interp(by, ys, shore)) + rng.uniform(20, 50)
            if cv.inside(bx, by, 8):
                _boat(cv, bx, by, rng.uniform(0, 2 * math.pi), rng.uniform(8, 12), 3.8, _WHITE)
                boats += 1
    u, v = cv.frame_point(100, 64)
    return {
        "sea_side": _side_word(u, v),
        "trees": n_trees,
        "buildings": buildings,
        "umbrellas": umbrellas,
        "boats": boats,
        "water": water_name,
    }


def _scene_freeway(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    lanes = int(rng.integers(2, 4))
    lane_w = rng.uniform(3.6, 4.4)
    carriage = lanes * lane_w + 1.6
    median = rng.uniform(2, 9)
    grass_median = median > 5
    cy = 64 + rng.uniform(-12, 12)
    road = _jit(rng, _ASPHALT, 10)
    tops = [cy - median / 2 - carriage, cy + median / 2]
    if not grass_median:
        cv.polygon(_box(_LO, cy - median / 2, _HI, cy + median / 2), _jit(rng, (170, 168, 162), 8), "pavement")
    for top in tops:
        cv.polygon(_box(_LO, top, _HI, top + carriage), road, "road")
        cv.line([(_LO, top + 0.6), (_HI, top + 0.6)], 0.4, _WHITE)
        cv.line([(_LO, top + carriage - 0.6), (_HI, top + carriage - 0.6)], 0.4, _WHITE)
        for k in range(1, lanes):
            ly = top + 0.8 + k * lane_w
            for x in np.arange(_LO + rng.uniform(0, 9), _HI, 9.0).tolist():
                cv.polygon(_box(x, ly - 0.22, x + 4, ly + 0.22), _WHITE)
    frontage = rng.random() < 0.3
    if frontage:
        fy = tops[0] - rng.uniform(10, 18)
        cv.polygon(_box(_LO, fy - 3, _HI, fy + 3), _jit(rng, _ASPHALT, 10), "road")
    n_cars = int(rng.integers(3, 24))
    cars = 0
    for _ in range(n_cars):
        which = int(rng.integers(2))
        lane = int(rng.integers(lanes))
        y = tops[which] + 0.8 + (lane + 0.5) * lane_w
        x = rng.uniform(-20, 148)
        if not cv.inside(x, y, -6):
            continue
        truck = rng.random() < 0.15
        col = _jit(rng, _pick(rng, _CARS)[1] if not truck else (210, 210, 206), 10)
        _car(cv, x, y, 0.0 if which else math.pi, col, length=14 if truck else 6.8, width=3.6 if truck else 3.2)
        cars += cv.inside(x, y, 1)
    trees = rng.random() < 0.6
    n_trees = 0
    if trees:
        k = int(rng.integers(12, 50))
        side = np.where(rng.random(k) < 0.5, -1.0, 1.0)
        dist = carriage + median / 2 + 4 + rng.exponential(8, k) + (22 if frontage else 0) * (side < 0)
        n_trees = _trees(cv, rng, rng.uniform(_LO, _HI, k), cy + side * dist, rng.uniform(2.8, 5.5, k))
    return {
        "cars": cars,
        "lanes": lanes,
        "grass_median": grass_median,
        "trees": n_trees,
        "frontage": frontage,
        "direction": _direction_words(cv.angle),
    }


# Blotchiness of each ground material's texture: grass is patchy, paved and sandy ground is even.
_GROUND_CONTRAST = {
    "grass": 0.1,
    "tree": 0.1,
    "bare soil": 0.08,
    "water": 0.05,
    "pavement": 0.05,
    "sand": 0.05,
}

# scene -> (ground colour and label, scene function)
_SCENES: dict[str, tuple[Callable[[_Draws], tuple[Sequence[int], str]], Callable[[_Canvas, _Draws], Facts]]] = {
    "residential": (lambda r: (_GRASS, "grass"), _scene_residential),
    "forest": (lambda r: ((44, 70, 38), "tree"), _scene_forest),
    "harbor": (lambda r: (_pick(r, _WATERS)[1], "water"), _scene_harbor),
    "airport": (lambda r: (_DRY_GRASS if r.random() < 0.6 else _GRASS, "grass"), _scene_airport),
    "storage tanks": (
        lambda r: (_SOIL, "bare soil") if r.random() < 0.55 else (_PAVEMENT, "pavement"),
        _scene_storage_tanks,
    ),
    "farmland": (lambda r: ((150, 128, 96), "bare soil"), _scene_farmland),
    "river": (lambda r: (_GRASS if r.random() < 0.6 else _DRY_GRASS, "grass"), _scene_river),
    "parking lot": (lambda r: (_ASPHALT if r.random() < 0.6 else _PAVEMENT, "pavement"), _scene_parking_lot),
    "tennis courts": (lambda r: (_GRASS, "grass"), _scene_tennis_courts),
    "beach": (lambda r: (_SAND, "sand"), _scene_beach),
    "freeway": (lambda r: (_GRASS if r.random() < 0.7 else _DRY_GRASS, "grass"), _scene_freeway),
}

_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _render(scene: str, rng: _Draws, image_size: int) -> tuple[np.ndarray, list[str], tuple[str, ...]]:
    ground_fn, draw_fn = _SCENES[scene]
    ground, ground_label = ground_fn(rng)
    ground = _jit(rng, ground, 12)
    size = image_size * _SUPERSAMPLE
    background = _texture(rng, size, ground, contrast=_GROUND_CONTRAST[ground_label], cells=int(rng.integers(5, 12)))
    cv = _Canvas(size, background, ground, ground_label, sun_angle=rng.uniform(0.4, 1.2))
    facts = draw_fn(cv, rng)
    present = cv.visible_labels()
    image = _finish(cv.image.reduce(_SUPERSAMPLE), rng)
    captions = _write_captions(scene, facts, set(present), rng)
    return image, present, captions


def _finish(image: Image.Image, rng: _Draws) -> np.ndarray:
    """Photographic jitter: exposure and white balance, a gentle light gradient and sensor grain.

    Works on channel planes (3, H, W); the (H, W, 3) result is a transposed view of them."""
    size = image.size[0]
    if size not in _GRIDS:
        ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
        _GRIDS[size] = (ramp[None, :], ramp[:, None])
    gx, gy = _GRIDS[size]
    gain = (rng.uniform(0.88, 1.12) * rng.uniform(0.95, 1.05, 3)).astype(np.float32)
    slope = rng.uniform(-0.06, 0.06, 2).astype(np.float32)
    a = np.asarray(image).transpose(2, 0, 1).astype(np.float32)
    a *= (1.0 + slope[0] * gx) + slope[1] * gy  # (H, W) light gradient
    a *= gain[:, None, None]
    # Uniform byte noise is several times cheaper to draw than Gaussian noise and looks the same as grain.
    grain = rng.integers(0, 256, (4, size, size), dtype=np.uint8).astype(np.float32)
    a += grain[:1] * np.float32(0.045)
    a += grain[1:] * np.float32(0.02)
    a -= np.float32(255 * 0.065 / 2)
    np.clip(a, 0, 255, out=a)
    return a.astype(np.uint8).transpose(1, 2, 0)


# ----------------------------------------------------------------------------------------------------------
# Captions

_NUMBERS = [
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


def _side_word(u: float, v: float) -> str:
    du, dv = u - 64.0, v - 64.0
    if abs(du) > abs(dv):
        return "right" if du > 0 else "left"
    return "bottom" if dv > 0 else "top"


def _region_word(u: float, v: float) -> str:
    col = 0 if u < 48 else (2 if u > 80 else 1)
    row = 0 if v < 48 else (2 if v > 80 else 1)
    return [
        ["in the upper left", "at the top", "in the upper right"],
        ["on the left", "in the middle", "on the right"],
        ["in the lower left", "at the bottom", "in the lower right"],
    ][row][col]


def _direction_words(angle: float) -> str:
    """How a line along layout x runs through the image after rotating by ``angle``."""
    dx, dy = math.cos(angle), math.sin(angle)
    if dx < 0:
        dx, dy = -dx, -dy
    if abs(dy) < 0.38:
        return "from left to right"
    if dx < 0.38:
        return "from top to bottom"
    return "from the upper left to the lower right" if dy > 0 else "from the lower left to the upper right"


class _Say:
    """Random wording helpers bound to one image's generator."""

    def __init__(self, rng: _Draws) -> None:
        self.rng = rng

    def __call__(self, *options: str) -> str:
        return options[int(self.rng.integers(len(options)))]

    def count(self, n: int, exact_up_to: int = 9) -> str:
        """``n`` as words: exact when small (sometimes vague), vague when large."""
        if n <= 1:
            return self("a", "one") if n == 1 else "no"
        if n <= exact_up_to and self.rng.random() < 0.7:
            return _NUMBERS[n]
        if n <= 4:
            return self("a few", "some", "several") if n > 2 else self("two", "a couple of")
        if n <= 12:
            return self("several", "some", "many")
        return self("many", "lots of", "a large number of", "dozens of" if n >= 24 else "many")

    def noun(self, n: int, singular: str, plural: str) -> str:
        return singular if n == 1 else plural


def _write_captions(scene: str, facts: Facts, present: set[str], rng: _Draws) -> tuple[str, ...]:
    """Five captions, distinct where the scene allows, mentioning only objects that are visible."""
    say = _Say(rng)
    candidates = [_tidy(c) for c in _CAPTIONERS[scene](facts, say)]
    valid = list(dict.fromkeys(c for c in candidates if caption_objects(c) <= present))
    if not valid:  # every scene writer has object-free fallbacks; this guards future edits
        valid = [_tidy(f"an aerial image of a {scene} scene")]
    order = rng.permutation(len(valid)).tolist()
    chosen = [valid[i] for i in order[:_N_CAPTIONS]]
    while len(chosen) < _N_CAPTIONS:
        chosen.append(valid[int(rng.integers(len(valid)))])
    return tuple(chosen)


_SIDE_PHRASES = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
}
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def _tidy(text: str) -> str:
    """One sentence: single spaces, "an" before a vowel, capital first letter, final period."""
    text = _A_BEFORE_VOWEL.sub(r"\1n ", " ".join(text.split()))
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _caps_residential(f: Facts, say: _Say) -> list[str]:
    h, c = int(f["houses"]), int(f["cars"])
    houses = say("houses", "buildings", "homes")
    roof = "" if f["roof"] == "mixed" else f"{f['roof']} "
    kind = say("sparse", "quiet") if f["sparse"] else say("dense", "crowded", "compact")
    out = [
        f"There are {say.count(h, 0)} {houses} arranged neatly along the {say('roads', 'streets')}.",
        f"A {kind} residential area with {say.count(h, 0)} {roof}{houses} and some trees.",
        f"{say.count(h, 0)} {houses} with {roof or 'colorful '}roofs are located on both sides of the "
        f"{say('road', 'street')}.",
        f"Rows of {houses} stand beside straight {say('roads', 'streets')} {f['direction']}.",
        f"Many {houses} and green trees fill this {kind} neighborhood.",
        f"This is a {kind} residential area.",
        f"Some trees and {say('lawns', 'grass')} are scattered between the {houses}.",
        f"The {houses} in the neighborhood have {roof or 'different colored '}roofs.",
    ]
    if f["cross"]:
        out.append(f"Two {say('roads', 'streets')} cross each other among the {houses}.")
    if c:
        out.append(
            f"{say.count(c)} {say.noun(c, 'car is', 'cars are')} parked along the "
            f"{say('roads', 'streets')} of the neighborhood."
        )
        out.append(f"Some {houses} have a {say('car', 'vehicle')} in front of them.")
    out.append(f"Some {houses} have a small {say('driveway', 'paved driveway')} to the {say('road', 'street')}.")
    if f["sparse"]:
        out.append(f"Large detached {houses} are surrounded by {say('lawns', 'grass')} and trees.")
    else:
        out.append(f"Many {houses} are densely packed together.")
    return out


def _caps_forest(f: Facts, say: _Say) -> list[str]:
    shade = f["shade"]
    out = [
        f"Many {shade} trees are densely packed together in the {say('forest', 'woods')}.",
        f"It is a dense forest with lush {shade} trees.",
        f"The {say('forest is', 'woods are')} full of trees of different sizes.",
        "Lots of trees grow closely together.",
        f"A thick {say('forest', 'woodland')} covers the whole image.",
        "The tree crowns form a continuous green canopy.",
        "There are many round green trees.",
    ]
    if f["path"]:
        out.append(f"A narrow {say('dirt path', 'path of bare soil', 'dirt track')} winds through the dense forest.")
    if f["autumn"]:
        out.append("Some yellow trees stand out among the green forest.")
    return out


def _caps_harbor(f: Facts, say: _Say) -> list[str]:
    b, p = int(f["boats"]), int(f["piers"])
    boats_word = say("boats", "yachts") if f["marina"] else say("ships", "boats", "vessels")
    boats = say.noun(b, boats_word[:-1], boats_word)
    color = f["boat_color"]
    piers = say.noun(p, say("pier", "dock"), say("piers", "docks"))
    out = [
        f"A harbor with {say.count(b)} {color} {boats} moored at the {piers}.",
        f"{say.count(b)} {boats} {say.noun(b, 'is', 'are')} {say('parked', 'docked', 'moored')} along "
        f"{say.count(p)} {piers}.",
        f"{say.count(p)} {piers} {say.noun(p, 'extends', 'extend')} into the water from the land "
        f"{_SIDE_PHRASES[str(f['land_side'])]}.",
        f"The water in the harbor is {say('calm', 'still', 'dark')}.",
        f"There {say.noun(b, 'is', 'are')} {say.count(b)} {boats} in the harbor.",
        f"This is a {say('busy', 'small', 'quiet')} {'marina' if f['marina'] else 'port'}.",
    ]
    if f["marina"]:
        out.append(
            f"Lots of {say('yachts', 'boats')} are neatly docked in the marina."
            if b > 6
            else f"A few {say('yachts', 'boats')} are docked in the marina."
        )
    else:
        out.append(
            f"{say.count(b)} large {say.noun(b, 'ship is', 'ships are')} docked beside a long {say('pier', 'jetty')}."
        )
    if f["buildings"]:
        out.append(
            f"Some {say('warehouses', 'buildings')} stand on the {say('concrete', 'paved')} land next to the water."
        )
    out.append(f"The land {_SIDE_PHRASES[str(f['land_side'])]} is covered with {say('concrete', 'pavement')}.")
    return out


def _caps_airport(f: Facts, say: _Say) -> list[str]:
    n, parked = int(f["planes"]), int(f["parked"])
    planes = say.noun(parked, say("airplane", "plane", "aircraft"), say("airplanes", "planes", "aircraft"))
    all_planes = say.noun(n, say("airplane", "plane"), say("airplanes", "planes"))
    color = f["plane_color"]
    out = [
        f"{say.count(parked)} {color} {planes} {say.noun(parked, 'is', 'are')} parked on the "
        f"{say('apron', 'tarmac', 'concrete')}.",
        f"An airport with a long runway and {say.count(n)} {all_planes}.",
        f"There is a runway with white markings at the {f['runway_side']} of the image.",
        f"{say.count(parked)} {planes} {say.noun(parked, 'stands', 'stand')} beside a long straight runway.",
        f"Some {say('grass', 'meadow')} surrounds the runway of the airport.",
        "This is an airport.",
        f"A long runway {say('crosses', 'runs across')} the airport beside a {say('taxiway', 'parallel taxiway')}.",
    ]
    if f["terminal"]:
        out.append(f"{say.count(parked)} {planes} {say.noun(parked, 'is', 'are')} parked near the terminal.")
        out.append(f"A large terminal building is next to the {say('apron', 'tarmac')}.")
    if f["taxiing"]:
        out.append(f"A {say('plane', 'airplane')} is moving along the {say('runway', 'taxiway')}.")
    return out


def _caps_storage_tanks(f: Facts, say: _Say) -> list[str]:
    n = int(f["tanks"])
    color = f["tank_color"]
    tanks = say.noun(n, "tank", "tanks")
    layout = {
        "grid": say("arranged in rows", "lined up neatly in rows"),
        "row": say("in a row", "lined up in a row"),
        "cluster": say("close to each other", "scattered around"),
    }[str(f["layout"])]
    ground = say("bare soil", "dirt ground", "bare land") if f["ground"] == "bare soil" else say("concrete", "pavement")
    out = [
        f"{say.count(n, 12)} {color} storage {tanks} {say.noun(n, 'is', 'are')} {layout}.",
        f"There {say.noun(n, 'is', 'are')} {say.count(n, 12)} round {tanks} on the {ground}.",
        f"{say.count(n, 12)} {say('big', 'large', 'cylindrical')} storage {tanks} "
        f"{say.noun(n, 'stands', 'stand')} in an industrial area.",
        f"{say.count(n, 12)} {color} {say('oil', 'storage', 'round')} {tanks} with shadows.",
        f"This is an area with storage {tanks}.",
        f"Some round {color} {tanks} are {layout}." if n > 1 else f"A single big {color} tank.",
    ]
    if f["varied"]:
        out.append(f"Storage {tanks} of different sizes are close to each other.")
    if f["road"]:
        out.append(f"Some storage {tanks} are located next to a {say('road', 'street')}.")
    out.append(f"{say('Some grass grows', 'There is a lawn')} beside the {tanks}.")
    return out


def _caps_farmland(f: Facts, say: _Say) -> list[str]:
    colors = list(f["colors"]) or ["green"]
    col = " and ".join(colors[:2])
    out = [
        f"The farmland is divided into {say('many', 'several')} rectangular fields of different colors.",
        f"There are {col} fields with neat stripes.",
        "Several pieces of farmland are planted with crops in straight rows.",
        f"Many {say('crops', 'plants')} grow in long parallel lines.",
        f"It is a piece of {say('farmland', 'cropland')} with {col} fields.",
        f"{say('Some', 'Many', 'Several')} fields are separated by "
        f"{say('narrow strips of bare soil', 'dirt borders')}.",
        "This is a farm seen from above.",
    ]
    if f["road"]:
        out.append(f"A narrow {say('road', 'dirt road')} runs between the fields.")
    if f["hedge"]:
        out.append(f"A row of trees {say('separates', 'divides')} the fields.")
    return out


def _caps_river(f: Facts, say: _Say) -> list[str]:
    winding = say("winding", "curved", "meandering")
    out = [
        f"A {winding} river runs through the green {say('meadow', 'grassland', 'grass')}.",
        f"A {winding} river with trees on both {say('banks', 'sides')}.",
        f"Many trees grow along the {say('banks', 'sides')} of the river.",
        f"There is a river running {f['direction']} with {say('grass', 'meadows')} beside it.",
        f"Some green trees and {say('grass', 'meadows')} are on both sides of the river.",
        f"The {say('river', 'water')} is {f['water']} and {winding}.",
        f"A {winding} river flows {f['direction']}.",
    ]
    if f["sandy"]:
        out.append(f"The river has {say('sandy banks', 'banks of sand')}.")
    if f["bridge"]:
        out.append(f"A {say('road', 'highway')} bridge crosses the river.")
    return out


def _caps_parking_lot(f: Facts, say: _Say) -> list[str]:
    n = int(f["cars"])
    cars = say("cars", "vehicles")
    out = [
        f"{say.count(n)} {cars} are parked neatly in the parking lot.",
        f"There are {say('several', 'many')} rows of {cars} in a parking lot.",
        f"The parking lot is {say('almost full', 'full of cars', 'crowded')}."
        if f["full"]
        else f"The parking lot is {say('half empty', 'partly empty')}.",
        f"Lots of {cars} of different colors are parked in lines.",
        f"A large parking lot with white lines and {say.count(n)} {cars}.",
        f"This is a {say('large', 'big', 'busy')} parking lot.",
        f"{say('Many', 'Lots of')} {cars} are parked in the parking lot.",
    ]
    if f["island"]:
        out.append(f"A row of trees on a strip of {say('grass', 'lawn')} divides the parking lot.")
    return out


def _caps_tennis_courts(f: Facts, say: _Say) -> list[str]:
    n = int(f["courts"])
    courts = say.noun(n, "tennis court", "tennis courts")
    color = f["color"]
    out = [
        f"{say.count(n)} {color} {courts} {say.noun(n, 'is', 'are')} surrounded by green trees.",
        f"There {say.noun(n, 'is', 'are')} {say.count(n)} {courts} {'next to each other' if n > 1 else 'here'}.",
        f"{say.count(n)} {courts} {say.noun(n, 'is', 'are')} located on the {say('grass', 'lawn')}.",
        f"Some trees are around the {courts}.",
        f"{say.count(n)} {courts} with white lines {f['where']} of the image.",
        f"{say.count(n)} {color} {courts} {f['where']}.",
        f"This is a place with {say.count(n)} {courts}.",
    ]
    if f["building"]:
        out.append(f"A small {say('building', 'clubhouse')} stands beside the {courts}.")
    if f["paved"]:
        out.append(f"A {say('paved', 'concrete')} area is next to the {courts}.")
    return out


def _caps_beach(f: Facts, say: _Say) -> list[str]:
    side = str(f["sea_side"])
    sea = say("sea", "ocean")
    out = [
        f"The {sea} is {_SIDE_PHRASES[side]} and the {say('sandy beach', 'beach')} is "
        f"{_SIDE_PHRASES[_OPPOSITE[side]]}.",
        f"White waves roll onto the {say('yellow', 'golden')} beach.",
        f"A beach with {f['water']} {sea} water and {say('fine', 'yellow')} sand.",
        f"This is a {say('long', 'quiet', 'beautiful')} beach.",
        f"The {sea} meets the {say('sand', 'beach')} along a curved line.",
        f"There is a {say('wide', 'long')} {say('sandy beach', 'stretch of sand')} beside the {sea}.",
        "The coastline is curved with white waves.",
    ]
    if f["trees"]:
        out.append(f"Some green trees grow {say('beside', 'behind')} the beach.")
    if f["buildings"]:
        out.append(f"Some buildings stand {say('behind', 'near')} the beach.")
    if f["umbrellas"]:
        out.append(f"Many colorful umbrellas are on the {say('beach', 'sand')}.")
    if f["boats"]:
        b = int(f["boats"])
        out.append(f"{say.count(b)} white {say.noun(b, 'boat is', 'boats are')} sailing on the {sea}.")
    return out


def _caps_freeway(f: Facts, say: _Say) -> list[str]:
    n = int(f["cars"])
    road = say("freeway", "highway")
    cars = say.noun(n, say("car", "vehicle"), say("cars", "vehicles"))
    median = say("a green belt of grass", "a strip of grass") if f["grass_median"] else "a concrete barrier"
    out = [
        f"A {road} with {say.count(n)} {cars} {say('running', 'driving')} on it.",
        f"There are {_NUMBERS[2 * int(f['lanes'])]} lanes on the {road} separated by {median}.",
        f"Some {cars} are driving on the {road} {f['direction']}."
        if n > 1
        else f"A {cars} is driving on the {road} {f['direction']}.",
        f"Two parallel roads {say('run', 'go')} {f['direction']} with {say('grass', 'green meadows')} beside them.",
        f"A long straight {road} crosses the image.",
        f"This is a {say('busy', 'wide')} {road}.",
        f"The {road} runs {f['direction']}.",
    ]
    if f["trees"]:
        out.append(f"A long straight {road} with trees on both sides.")
    if n >= 8:
        out.append(f"Many {say('vehicles', 'cars')} are driving on the {road}.")
    if f["frontage"]:
        out.append(f"A smaller {say('road', 'street')} runs parallel to the {road}.")
    return out


_CAPTIONERS: dict[str, Callable[[Facts, _Say], list[str]]] = {
    "residential": _caps_residential,
    "forest": _caps_forest,
    "harbor": _caps_harbor,
    "airport": _caps_airport,
    "storage tanks": _caps_storage_tanks,
    "farmland": _caps_farmland,
    "river": _caps_river,
    "parking lot": _caps_parking_lot,
    "tennis courts": _caps_tennis_courts,
    "beach": _caps_beach,
    "freeway": _caps_freeway,
}
