"""An embedding index of an image collection: built once, memory-mapped, updated when images are added.

Two files: ``NAME.npy``, the (N, D) float32 normalized image embeddings, read with ``numpy.load(...,
mmap_mode="r")`` so a query touches the rows without loading the collection into memory; and ``NAME.json``,
what each row is (path, size, modification time, SHA-1 of the bytes) and the key of the model that computed it.

Keys. The model key hashes the image tower's weights, the preprocessing and the model name: an index made by
another model (or another fine-tuning of it) is never served; it is rebuilt. A row is reused when its image's
bytes are unchanged (SHA-1; the file is only re-read when its size or modification time changed), whatever its
path, so renamed or moved images cost nothing and only new or changed images are encoded.

numpy's ``.npy`` + ``mmap_mode`` is the memory map; a vector database would add a server for what a (N, D)
matrix product answers on collections of this size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssclip.engine.cache import image_digest, tensor_digest
from ssclip.infer.images import encode_image_files
from ssclip.models.factory import CLIPBundle

log = logging.getLogger(__name__)

__all__ = ["EmbeddingIndex", "model_key", "default_index_path", "build_or_update_index"]

INDEX_FORMAT = "ssclip-image-index"


def model_key(bundle: CLIPBundle) -> str:
    """A short hash of what determines an image embedding: the image tower's weights, preprocessing, name."""
    visual = getattr(bundle.model, "visual", bundle.model)
    h = hashlib.sha1()
    h.update(tensor_digest(list(visual.state_dict().items())).encode())
    h.update(json.dumps(bundle.preprocess_cfg, sort_keys=True, default=list).encode())
    h.update(bundle.name.encode())
    return h.hexdigest()[:16]


def default_index_path(spec: str | Path, key: str) -> Path:
    """Beside the images: inside a folder, or next to a CSV/TSV list or an image file (hidden, per model)."""
    path = Path(spec)
    folder = path if path.is_dir() else path.parent
    return folder / f".ssclip-index-{key}.npy"


@dataclass
class EmbeddingIndex:
    """Rows of image embeddings (memory-mapped) and what each row is."""

    path: Path  # the .npy file; the row table is path.with_suffix(".json")
    key: str
    entries: list[dict[str, Any]]  # per row: "path", "size", "mtime_ns", "sha1"
    embeddings: np.ndarray  # (N, D) float32, memory-mapped
    stats: dict[str, int] = field(default_factory=dict)  # what the last update did
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable images of the last update

    @property
    def paths(self) -> list[Path]:
        return [Path(e["path"]) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, queries: torch.Tensor, top_k: int, chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q, k) scores and row indices of the ``top_k`` rows by cosine similarity, best first. The rows are
        read in chunks from the memory map."""
        k = min(top_k, len(self))
        q = torch.nn.functional.normalize(queries.float(), dim=-1)
        best_s, best_i = None, None
        for start in range(0, len(self), chunk):
            rows = torch.from_numpy(np.array(self.embeddings[start : start + chunk]))  # a copy: the map is read-only
            s, i = (q @ rows.T).topk(min(k, rows.shape[0]), dim=-1)
            i = i + start
            if best_s is not None:
                s, order = torch.cat([best_s, s], 1).topk(k, dim=-1)
                i = torch.cat([best_i, i], 1).gather(1, order)
            best_s, best_i = s, i
        return best_s, best_i


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _load(path: Path, key: str) -> EmbeddingIndex | None:
    """The index at ``path`` if it is one of ``key``'s, else None (with the reason logged)."""
    meta = _meta_path(path)
    if not path.is_file() or not meta.is_file():
        return None
    try:
        table = json.loads(meta.read_text())
        embeddings = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        log.warning("index %s is unreadable (%s): rebuilding it", path, e)
        return None
    if table.get("format") != INDEX_FORMAT or table.get("model_key") != key:
        log.warning("index %s was built by another model (%s, not %s): rebuilt", path, table.get("model_key"), key)
        return None
    if embeddings.ndim != 2 or embeddings.shape[0] != len(table.get("entries", [])):
        log.warning("index %s: %s rows for %d entries: rebuilding it", path, embeddings.shape, len(table["entries"]))
        return None
    return EmbeddingIndex(path, key, table["entries"], embeddings)


def _write(path: Path, key: str, entries: list[dict[str, Any]], embeddings: np.ndarray) -> None:
    """Both files, each written to a temporary name and renamed, the table last (it names the rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, embeddings.astype(np.float32, copy=False), allow_pickle=False)
    os.replace(tmp, path)
    meta_tmp = _meta_path(path).with_name(_meta_path(path).name + ".tmp")
    meta_tmp.write_text(json.dumps({"format": INDEX_FORMAT, "model_key": key, "entries": entries}) + "\n")
    os.replace(meta_tmp, _meta_path(path))


def _stored_path(image: Path, index_dir: Path) -> str:
    """Relative to the index's folder when below it (the folder can then move with its index), else absolute."""
    # abspath, not resolve: a symbolic link is listed under its own name, as the user named it
    absolute = Path(os.path.abspath(image))
    try:
        return absolute.relative_to(os.path.abspath(index_dir)).as_posix()
    except ValueError:
        return str(absolute)


def build_or_update_index(
    bundle: CLIPBundle,
    images: Sequence[Path],
    path: Path,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    strict: bool = False,
) -> EmbeddingIndex:
    """The index of ``images`` at ``path``: reuse the rows of unchanged images, encode the others, drop rows of
    images no longer listed. Rows follow ``images`` (unreadable ones skipped). ``stats`` counts reused, encoded
    and skipped images."""
    key = model_key(bundle)
    old = _load(path, key)
    by_file = {(e["path"], e["size"], e["mtime_ns"]): i for i, e in enumerate(old.entries)} if old else {}
    by_digest = {e["sha1"]: i for i, e in enumerate(old.entries)} if old else {}
    entries: list[dict[str, Any]] = []
    reuse: list[int | None] = []
    missing: list[int] = []
    for image in images:
        stat = Path(image).stat()
        stored = _stored_path(Path(image), path.parent)
        row = by_file.get((stored, stat.st_size, stat.st_mtime_ns))
        digest = old.entries[row]["sha1"] if row is not None else image_digest(Path(image))
        row = by_digest.get(digest) if row is None else row
        entries.append({"path": stored, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha1": digest})
        reuse.append(row)
        if row is None:
            missing.append(len(entries) - 1)
    skipped: list[tuple[Path, str]] = []
    new_rows: dict[int, np.ndarray] = {}
    if missing:
        emb, batches = encode_image_files(
            bundle.model.to(device),
            [Path(images[i]) for i in missing],
            bundle.eval_transform,
            device,
            batch_size,
            strict,
            "indexing",
        )
        skipped = batches.skipped
        new_rows = {missing[j]: emb[r].numpy() for r, j in enumerate(batches.kept)}
    keep = [i for i in range(len(entries)) if reuse[i] is not None or i in new_rows]
    dim = old.embeddings.shape[1] if old is not None else next(iter(new_rows.values())).shape[0]
    matrix = np.empty((len(keep), dim), dtype=np.float32)
    for r, i in enumerate(keep):
        matrix[r] = old.embeddings[reuse[i]] if reuse[i] is not None else new_rows[i]
    kept_entries = [entries[i] for i in keep]
    if old is None or new_rows or old.entries != kept_entries:
        _write(path, key, kept_entries, matrix)
    index = _load(path, key)
    assert index is not None
    reused = len(keep) - len(new_rows)
    index.stats = {"images": len(images), "reused": reused, "encoded": len(new_rows), "skipped": len(skipped)}
    index.skipped = skipped
    return index
