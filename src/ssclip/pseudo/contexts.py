"""Label contexts: groups of classes that tend to appear together, for the context-identification task (CSA).

Pipeline: labeled multi-label targets -> symmetric non-negative co-occurrence affinity between classes ->
spectral clustering into K contexts -> per-image multi-hot context targets ("the image contains some label
of context m"). Contexts are computed once from the labeled set (the only ground truth) and saved as JSON
so that training and analysis use the same grouping; :func:`plot_contexts` draws the grouped affinity
matrix, like the paper's figure of COCO context clusters. :class:`LabelContexts` holds one grouping and
saves both (``contexts.json``, ``contexts.png``): it is what CSA hands the run to keep.

Isolated classes, i.e. classes with an all-zero affinity row (never labeled, or only ever labeled alone),
carry no co-occurrence information. Spectral clustering would otherwise spend a whole context on each of
them, so they are left out of the clustering and put in context 0, which is the context of the
lowest-indexed non-isolated class (contexts are numbered in order of their first class). This is the
simplest deterministic rule; such classes then share a context target with an arbitrary but fixed group.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "cooccurrence_affinity",
    "cluster_contexts",
    "context_targets",
    "context_mask",
    "save_contexts",
    "load_contexts",
    "plot_contexts",
    "LabelContexts",
]

_FORMAT = "ssclip.contexts/v1"
LabelsT = TypeVar("LabelsT", Tensor, np.ndarray)


def _as_label_matrix(labels: np.ndarray | Tensor, caller: str) -> np.ndarray:
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{caller}: labels must have shape (N, C), got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{caller}: labels must be 0/1 (multi-hot), got values {np.unique(labels)[:10]}")
    return labels.astype(np.float64)


def cooccurrence_affinity(
    labels: np.ndarray | Tensor, kind: Literal["conditional", "jaccard"] = "conditional"
) -> np.ndarray:
    """Symmetric, non-negative (C, C) class affinity from 0/1 labels (N, C), with a zero diagonal.

    ``"conditional"``: P(j|i) = A_ij / A_ii with A = Y^T Y (0 where A_ii = 0), symmetrized as (P + P^T) / 2.
    ``"jaccard"``: A_ij / (A_ii + A_jj - A_ij), the fraction of images with i or j that have both.
    """
    counts_matrix = _as_label_matrix(labels, "cooccurrence_affinity")
    counts = counts_matrix.T @ counts_matrix
    occurrences = np.diag(counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "conditional":
            conditional = np.where(occurrences[:, None] > 0, counts / occurrences[:, None], 0.0)
            affinity = (conditional + conditional.T) / 2
        elif kind == "jaccard":
            union = occurrences[:, None] + occurrences[None, :] - counts
            affinity = np.where(union > 0, counts / union, 0.0)
        else:
            raise ValueError(f"cooccurrence_affinity: unknown kind {kind!r}; expected conditional or jaccard")
    np.fill_diagonal(affinity, 0.0)
    return affinity


def _check_affinity(affinity: np.ndarray) -> np.ndarray:
    affinity = np.asarray(affinity, dtype=np.float64)
    if affinity.ndim != 2 or affinity.shape[0] != affinity.shape[1]:
        raise ValueError(f"cluster_contexts: affinity must be a square (C, C) matrix, got {affinity.shape}")
    if not np.isfinite(affinity).all():
        raise ValueError("cluster_contexts: affinity contains NaN or inf")
    if (affinity < 0).any():
        raise ValueError(f"cluster_contexts: affinity must be non-negative, min is {affinity.min():.4g}")
    if not np.allclose(affinity, affinity.T):
        raise ValueError("cluster_contexts: affinity must be symmetric (use (P + P.T) / 2)")
    return affinity


def _number_by_first_class(raw: np.ndarray) -> np.ndarray:
    """Relabel clusters 0, 1, ... in order of their lowest class index (clusterers return arbitrary ids)."""
    order: dict[int, int] = {}
    for cluster in raw.tolist():
        order.setdefault(cluster, len(order))
    return np.array([order[c] for c in raw.tolist()], dtype=np.int64)


def cluster_contexts(affinity: np.ndarray, n_contexts: int, seed: int = 0) -> np.ndarray:
    """Partition classes into contexts by spectral clustering of the affinity; returns (C,) int64 ids.

    Uses ``SpectralClustering(affinity="precomputed", assign_labels="cluster_qr")``, which needs no tuning
    and is deterministic for a fixed ``seed``. Isolated classes (all-zero rows) go to context 0 (see the
    module docstring). ``n_contexts`` is clamped, with a warning, to the number of non-isolated classes; the
    number of contexts actually used is ``assignment.max() + 1``.
    """
    from sklearn.cluster import SpectralClustering

    affinity = _check_affinity(affinity)
    if n_contexts < 1:
        raise ValueError(f"cluster_contexts: n_contexts must be >= 1, got {n_contexts}")
    n_classes = affinity.shape[0]
    connected = np.flatnonzero(affinity.sum(1) > 0)
    assignment = np.zeros(n_classes, dtype=np.int64)
    if len(connected) < n_classes:
        isolated = np.setdiff1d(np.arange(n_classes), connected).tolist()
        warnings.warn(
            f"cluster_contexts: {len(isolated)} of {n_classes} classes never co-occur with another "
            f"class (indices {isolated}); they are put in context 0",
            stacklevel=2,
        )
    n_clusters = min(n_contexts, len(connected))
    if n_clusters < n_contexts:
        warnings.warn(
            f"cluster_contexts: n_contexts={n_contexts} exceeds the {len(connected)} classes that "
            f"co-occur with another class; using {max(n_clusters, 1)} contexts",
            stacklevel=2,
        )
    if n_clusters <= 1:
        return assignment
    if n_clusters == len(connected):  # one class per context: nothing to cluster
        raw = np.arange(len(connected))
    else:
        clusterer = SpectralClustering(
            n_clusters=n_clusters, affinity="precomputed", random_state=seed, assign_labels="cluster_qr"
        )
        raw = clusterer.fit_predict(affinity[np.ix_(connected, connected)])
    assignment[connected] = _number_by_first_class(np.asarray(raw))
    return assignment


def context_targets(labels: LabelsT, assignment: np.ndarray | Sequence[int], n_contexts: int) -> LabelsT:
    """Multi-hot context targets (N, K): entry m is the max of the labels of the classes in context m.

    Works on 0/1 labels and on soft scores alike. Returns the same type as ``labels`` (tensor: same dtype and
    device; array: same dtype); a context with no class is all zero.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    if labels.ndim != 2 or assignment.shape != (labels.shape[1],):
        raise ValueError(
            f"context_targets: labels {tuple(labels.shape)} must be (N, C) and assignment "
            f"{assignment.shape} must be (C,)"
        )
    if len(assignment) and (assignment.min() < 0 or assignment.max() >= n_contexts):
        raise ValueError(
            f"context_targets: assignment values must lie in [0, {n_contexts}), "
            f"got [{assignment.min()}, {assignment.max()}]"
        )
    if isinstance(labels, Tensor):
        targets_t = labels.new_zeros(labels.shape[0], n_contexts)
        for context in range(n_contexts):
            members = torch.from_numpy(np.flatnonzero(assignment == context)).to(labels.device)
            if len(members):
                targets_t[:, context] = labels.index_select(1, members).amax(1)
        return targets_t
    targets = np.zeros((labels.shape[0], n_contexts), dtype=labels.dtype)
    for context in range(n_contexts):
        members = assignment == context
        if members.any():
            targets[:, context] = labels[:, members].max(1)
    return targets


def context_mask(labels: Tensor, mask: Tensor, assignment: np.ndarray | Sequence[int], n_contexts: int) -> Tensor:
    """Which context targets of pseudo-labelled images are known, given the class-wise confidence ``mask``.

    A context's target (the max of its classes' labels, :func:`context_targets`) is known when one of its classes
    is a kept positive (label >= 0.5 and mask 1: the context is present whatever the masked classes say) or when
    every class of the context is kept; otherwise a masked class could change it and the entry is dropped (0).
    With an all-ones mask every entry is known. Returns (N, K) in the dtype of ``labels``.
    """
    if mask.shape != labels.shape:
        raise ValueError(f"context_mask: mask {tuple(mask.shape)} must have the shape of labels {tuple(labels.shape)}")
    kept = mask.to(labels.device) > 0
    kept_positive = context_targets((kept & (labels >= 0.5)).to(labels.dtype), assignment, n_contexts)
    any_masked = context_targets((~kept).to(labels.dtype), assignment, n_contexts)
    return ((kept_positive > 0) | (any_masked == 0)).to(labels.dtype)


def save_contexts(path: str | Path, assignment: np.ndarray | Sequence[int], classnames: Sequence[str]) -> None:
    """Write the class -> context assignment as JSON (also listing the classes of every context)."""
    assignment = np.asarray(assignment, dtype=np.int64)
    if assignment.shape != (len(classnames),):
        raise ValueError(
            f"save_contexts: assignment has shape {assignment.shape}, expected ({len(classnames)},) to match classnames"
        )
    n_contexts = int(assignment.max()) + 1 if len(assignment) else 0
    payload = {
        "format": _FORMAT,
        "n_contexts": n_contexts,
        "classnames": list(classnames),
        "assignment": assignment.tolist(),
        "contexts": [
            [name for name, c in zip(classnames, assignment.tolist(), strict=True) if c == m] for m in range(n_contexts)
        ],
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def load_contexts(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read a file written by :func:`save_contexts`; returns ``(assignment (C,) int64, classnames)``."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: expected a JSON object with 'classnames' and 'assignment'")
    for field in ("classnames", "assignment"):
        if not isinstance(payload.get(field), list):
            raise ValueError(f"{path}: field {field!r} is missing or not a list")
    classnames, raw = payload["classnames"], payload["assignment"]
    if not all(isinstance(name, str) for name in classnames):
        raise ValueError(f"{path}: field 'classnames' must be a list of strings")
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in raw):
        raise ValueError(f"{path}: field 'assignment' must be a list of non-negative integers")
    if len(raw) != len(classnames):
        raise ValueError(
            f"{path}: field 'assignment' has {len(raw)} entries, expected {len(classnames)} (one per class name)"
        )
    return np.asarray(raw, dtype=np.int64), list(classnames)


def plot_contexts(
    affinity: np.ndarray, assignment: np.ndarray | Sequence[int], classnames: Sequence[str], path: str | Path
) -> Path:
    """Save a figure of the affinity matrix with classes grouped by context, a box around each block.

    The file format follows the suffix of ``path`` (png, pdf, svg, ...). Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    affinity = np.asarray(affinity, dtype=np.float64)
    assignment = np.asarray(assignment, dtype=np.int64)
    n_classes = len(classnames)
    if affinity.shape != (n_classes, n_classes) or assignment.shape != (n_classes,):
        raise ValueError(
            f"plot_contexts: affinity {affinity.shape} must be (C, C) and assignment "
            f"{assignment.shape} must be (C,) with C = {n_classes} class names"
        )
    order = np.argsort(assignment, kind="stable")
    grouped = affinity[np.ix_(order, order)]
    contexts = sorted(set(assignment.tolist()))

    side = max(4.0, 0.3 * n_classes + 2)
    figure = Figure(figsize=(side + 4, side), layout="constrained")
    FigureCanvasAgg(figure)  # attaches an Agg canvas; no pyplot global state involved
    axes, legend_axes = figure.subplots(1, 2, width_ratios=[side, 4])
    image = axes.imshow(grouped, cmap="viridis", vmin=0, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="affinity")
    names = [classnames[i] for i in order]
    axes.set_xticks(range(n_classes), names, rotation=90, fontsize=7)
    axes.set_yticks(range(n_classes), names, fontsize=7)
    start = 0
    for context in contexts:
        size = int((assignment == context).sum())
        axes.add_patch(Rectangle((start - 0.5, start - 0.5), size, size, fill=False, edgecolor="red", lw=2))
        axes.text(
            start - 0.35,
            start - 0.35,
            str(context),
            color="red",
            fontsize=8,
            fontweight="bold",
            ha="left",
            va="top",
        )
        start += size
    axes.set_title(f"Label co-occurrence grouped into {len(contexts)} contexts")

    legend_axes.axis("off")
    lines = [f"Context {c}: " + ", ".join(classnames[i] for i in np.flatnonzero(assignment == c)) for c in contexts]
    legend_axes.text(0, 1, "\n\n".join(lines), va="top", ha="left", fontsize=8, wrap=True)

    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


@dataclass
class LabelContexts:
    """A class -> context grouping with the affinity it came from: an artifact of a run (CSA's contexts).

    ``assignment`` (C,) context ids, ``affinity`` (C, C) the class affinity that was clustered, ``classnames``
    the C class names.
    """

    assignment: np.ndarray
    affinity: np.ndarray
    classnames: list[str]

    def save(self, folder: Path) -> list[Path]:
        """Write ``contexts.json`` (:func:`save_contexts`) and ``contexts.png`` (:func:`plot_contexts`) into
        ``folder`` (created if needed); returns the files written. Without matplotlib only the JSON, the
        record, is written, with a warning (the figure is a convenience)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "contexts.json"]
        save_contexts(written[0], self.assignment, self.classnames)
        try:
            written.append(plot_contexts(self.affinity, self.assignment, self.classnames, folder / "contexts.png"))
        except ImportError as error:
            warnings.warn(f"contexts.png not written: {error}", stacklevel=2)
        return written
