"""Feature cache for the fast regime: the frozen lower part of the image tower is run once per image view.

A cache file is keyed by everything that determines its content -- the model name, a hash of the frozen
weights, the split point, the transform, the number of views and their seed, and a hash of every image's
bytes -- so a changed input can never be served a stale cache: it simply gets a new file. Image hashes are
remembered in ``digests.sqlite`` beside the caches by (path, size, mtime), so a run over an unchanged pool
of a million files stats them instead of re-reading them.

View 0 of every image is the evaluation transform (deterministic); views 1..V-1 are draws of the training
augmentation, each seeded by (seed, image key, view), so they do not depend on the order of the images.
Each image is decoded once and all its views are drawn from that decode.

The cache lives on disk as a ``.npy`` file written incrementally through a memory map, beside a per-image
status file (to do / done / unreadable), so a killed build resumes where it stopped; readers map it
(copy-on-write) instead of loading it, so RAM does not grow with the pool and every torchrun process shares
the same pages. Images are decoded and transformed by a torch ``DataLoader``'s workers.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ssclip.data.images import AnyImage, read_image
from ssclip.data.shards import ShardMember

log = logging.getLogger(__name__)

TODO, DONE, UNREADABLE = 0, 1, 2  # per-image status in the cache's status file


@dataclass(frozen=True)
class ViewSpec:
    """How to draw the views of each image that the cache stores."""

    train_transform: Callable | None  # None: only the evaluation view
    eval_transform: Callable
    n_views: int = 1
    seed: int = 0
    name: str = "views"

    def fingerprint(self) -> str:
        return f"{self.name}|{self.n_views}|{self.seed}|{self.train_transform!r}|{self.eval_transform!r}"


def image_digest(image: AnyImage) -> str:
    h = hashlib.sha1()
    if isinstance(image, Image.Image):
        h.update(repr((image.mode, image.size)).encode())
        h.update(image.tobytes())
    elif isinstance(image, ShardMember):
        h.update(image.read_bytes())
    else:
        h.update(Path(image).read_bytes())
    return h.hexdigest()


class DigestMemo:
    """Image hashes remembered by (path, size, mtime) in a small SQLite file: the hash is recomputed only for a
    file whose size or modification time changed (or a shard member whose shard did)."""

    def __init__(self, path: Path | None) -> None:
        self.db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=60)
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INT, mtime INT, sha1 TEXT)"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS readable (path TEXT PRIMARY KEY, size INT, mtime INT)")

    @staticmethod
    def _stamp(image: Path | ShardMember) -> tuple[str, int, int]:
        if isinstance(image, ShardMember):
            st = os.stat(image.shard)
            return f"{os.path.abspath(image.shard)}::{image.name}@{image.offset}", image.size, st.st_mtime_ns
        st = os.stat(image)
        return os.path.abspath(image), st.st_size, st.st_mtime_ns

    def digests(self, images: Sequence[AnyImage], progress: bool = True) -> list[str]:
        out: list[str] = []
        fresh: list[tuple[str, int, int, str]] = []
        bar = tqdm(images, desc="hashing images", unit="img", disable=not progress or len(images) < 1000)
        for image in bar:
            if isinstance(image, Image.Image) or self.db is None:
                out.append(image_digest(image))
                continue
            stamp = self._stamp(image)
            row = self.db.execute("SELECT size, mtime, sha1 FROM digests WHERE path = ?", stamp[:1]).fetchone()
            if row is not None and (row[0], row[1]) == stamp[1:]:
                out.append(row[2])
                continue
            digest = image_digest(image)
            fresh.append((*stamp, digest))
            out.append(digest)
            if len(fresh) >= 10_000:
                self._write(fresh)
        self._write(fresh)
        return out

    def not_yet_readable(self, images: Sequence[AnyImage]) -> list[AnyImage]:
        """The files among ``images`` not known to decode: never checked, or changed since (in-memory pictures
        are always readable and left out); with no memo file, every file."""
        files = [im for im in images if not isinstance(im, Image.Image)]
        if self.db is None:
            return files
        todo = []
        for image in files:
            try:
                stamp = self._stamp(image)
            except OSError:
                todo.append(image)  # missing: the check names it
                continue
            row = self.db.execute("SELECT size, mtime FROM readable WHERE path = ?", stamp[:1]).fetchone()
            if row is None or (row[0], row[1]) != stamp[1:]:
                todo.append(image)
        return todo

    def mark_readable(self, images: Sequence[Path | ShardMember]) -> None:
        """Remember that ``images`` decoded, by (path, size, mtime)."""
        if self.db is not None and images:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO readable VALUES (?, ?, ?)", [self._stamp(im) for im in images]
                )

    def _write(self, rows: list[tuple[str, int, int, str]]) -> None:
        if self.db is not None and rows:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", rows)
            rows.clear()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def tensor_digest(named: Sequence[tuple[str, Tensor]]) -> str:
    h = hashlib.sha1()
    for name, t in named:
        h.update(name.encode())
        buf = io.BytesIO()
        np.save(buf, t.detach().cpu().float().numpy(), allow_pickle=False)
        h.update(buf.getvalue())
    return h.hexdigest()


def _named(weights: Sequence[tuple[str, Tensor]] | Sequence[nn.Module]) -> list[tuple[str, Tensor]]:
    out: list[tuple[str, Tensor]] = []
    for i, w in enumerate(weights):
        if isinstance(w, nn.Module):
            out += [(f"{i}.{k}", v) for k, v in w.state_dict().items()]
        else:
            out.append(w)
    return out


def _view_seed(seed: int, key: str, view: int) -> int:
    return int(hashlib.sha1(f"{seed}|{key}|{view}".encode()).hexdigest()[:12], 16)


def render_views(picture: Image.Image, key: str, spec: ViewSpec) -> list[Tensor]:
    """All ``spec.n_views`` views of one decoded picture."""
    out = []
    for view in range(spec.n_views):
        if view == 0 or spec.train_transform is None:
            out.append(spec.eval_transform(picture))
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_view_seed(spec.seed, key, view))
            out.append(spec.train_transform(picture))
    return out


def render_view(image: AnyImage, key: str, view: int, spec: ViewSpec) -> Tensor:
    """One view of one image (decodes it: for many views of an image, :func:`render_views`)."""
    picture = read_image(image)
    if view == 0 or spec.train_transform is None:
        return spec.eval_transform(picture)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_view_seed(spec.seed, key, view))
        return spec.train_transform(picture)


class _Chunks(Dataset):
    """Chunk ``c``: the views of images ``chunks[c]``, each image decoded once (in a loader worker)."""

    def __init__(self, images: Sequence[AnyImage], keys: Sequence[str], spec: ViewSpec, chunks: list[np.ndarray]):
        self.images, self.keys, self.spec, self.chunks = images, keys, spec, chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, c: int) -> tuple[np.ndarray, Tensor | None, list[str]]:
        ok, views, errors = [], [], []
        for i in self.chunks[c]:
            try:
                picture = read_image(self.images[i])
            except (OSError, ValueError) as e:  # reported by the builder: skipped or fatal
                errors.append(f"{self.images[i]}: {e}" if str(self.images[i]) not in str(e) else str(e))
                continue
            ok.append(i)
            views.extend(render_views(picture, self.keys[i], self.spec))
        return np.asarray(ok, dtype=np.int64), (torch.stack(views) if views else None), errors


@dataclass
class ViewCache:
    """The cached views: ``features`` (N, V, ...) (memory-mapped when the cache is on disk) and the images that
    could not be read (their rows are zeros)."""

    features: Tensor
    unreadable: np.ndarray  # indices into the images
    errors: list[str]  # one message per unreadable image (first ones only)
    path: Path | None = None


def _map(path: Path) -> Tensor:
    # Copy-on-write: writable for torch, never written back; pages are shared by every process mapping it.
    return torch.from_numpy(np.load(path, mmap_mode="c"))


def _reserve(path: Path) -> None:
    """Allocate every block of the (sparse) file at ``path`` now. A write through a memory map into a hole
    that the disk has no room for kills the process with SIGBUS, not an exception: reserving the space first
    turns a full disk into an error that says where and how much."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                return  # a file system that cannot reserve: writes go as they would have
            free = shutil.disk_usage(path.parent).free
            raise OSError(
                e.errno,
                f"the feature cache {path.name} needs {size / 1e9:.2f} GB in {path.parent} but only "
                f"{free / 1e9:.2f} GB are free: free some space or point --cache-dir at a larger disk",
            ) from None


def _create(path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()  # header + a sparse body
    try:
        _reserve(path)
    except OSError:
        path.unlink()  # nothing written yet; a store being resumed is kept
        raise


def _open_store(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.memmap, np.memmap]:
    status_path = path.with_name(path.name.replace(".views.npy", ".status.npy"))
    if path.is_file() and status_path.is_file():
        feats = np.load(path, mmap_mode="r")
        if feats.shape == shape and feats.dtype == dtype:
            return _open_existing(path, status_path)
        del feats
    status_path.unlink(missing_ok=True)  # no status, no resume: a half-written store is never read
    _create(path, shape, dtype)
    _create(status_path, (shape[0],), np.uint8)
    return np.load(path, mmap_mode="r+"), np.load(status_path, mmap_mode="r+")


def _open_existing(path: Path, status_path: Path) -> tuple[np.memmap, np.memmap]:
    _reserve(path)  # a store begun by an older ssclip may still be sparse
    return np.load(path, mmap_mode="r+"), np.load(status_path, mmap_mode="r+")


@torch.no_grad()
def build_view_cache(
    lower: Callable[[Tensor], Tensor],
    lower_weights: Sequence[tuple[str, Tensor]] | Sequence[nn.Module],
    model_id: str,
    images: Sequence[AnyImage],
    keys: Sequence[str],
    spec: ViewSpec,
    cache_dir: str | Path | None,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    dtype: torch.dtype = torch.float16,
    progress: bool = True,
    workers: int = 0,
    strict: bool = False,
) -> ViewCache:
    """Return the (N, V, ...) lower-tower features of ``images`` from ``cache_dir`` when an identical cache
    exists, else build it there (resuming a killed build); ``cache_dir=None`` keeps it in memory.

    ``lower`` must already be in evaluation mode (frozen BatchNorm statistics); ``lower_weights`` are the
    tensors it depends on, as (name, tensor) pairs or modules, and enter the cache key. ``batch_size`` views go
    through ``lower`` at once: ``batch_size // V`` images, all views of each. ``workers`` loader processes
    decode and transform. An unreadable image raises when ``strict``, else its row stays zeros and it is
    listed in ``unreadable``."""
    if len(images) != len(keys):
        raise ValueError(f"{len(images)} images but {len(keys)} keys")
    root = Path(cache_dir) if cache_dir is not None else None
    memo = DigestMemo(root / "digests.sqlite" if root is not None else None)
    key_hash = hashlib.sha1()
    for digest in memo.digests(images, progress):
        key_hash.update(digest.encode())
    memo.close()
    fingerprint = hashlib.sha1(
        "|".join(
            [
                model_id,
                tensor_digest(_named(lower_weights)),
                spec.fingerprint(),
                key_hash.hexdigest(),
                str(dtype),
            ]
        ).encode()
    ).hexdigest()[:20]
    path = root / f"{spec.name}-{fingerprint}.views.npy" if root is not None else None
    np_dtype = np.dtype(str(dtype).removeprefix("torch."))
    per_chunk = max(1, batch_size // spec.n_views)  # all views of an image in one batch: decoded once
    chunks = [np.arange(s, min(s + per_chunk, len(images))) for s in range(0, len(images), per_chunk)]
    feats: np.ndarray | None = None
    status: np.ndarray | None = None
    if path is not None and path.is_file():
        status_path = path.with_name(path.name.replace(".views.npy", ".status.npy"))
        if status_path.is_file():
            status = np.load(status_path, mmap_mode="r")
            if not (status == TODO).any():
                log.info("feature cache hit: %s", path)
                return _cache_result(_map(path), np.asarray(status), [], path, strict, images)
    todo = chunks
    if status is not None and path is not None:  # a killed build: only the chunks it did not finish
        todo = [c for c in chunks if (status[c] == TODO).any()]
        log.info("feature cache %s: resuming, %d of %d chunks left", path, len(todo), len(chunks))
        feats, status = _open_existing(path, path.with_name(path.name.replace(".views.npy", ".status.npy")))
    loader = DataLoader(
        _Chunks(images, keys, spec, todo),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        generator=torch.Generator(),  # the loader's seed must not come from (and advance) the global RNG
    )
    errors: list[str] = []
    early: list[np.ndarray] = []  # chunks seen before the first readable image
    done_images = len(images) - sum(len(c) for c in todo)
    bar = tqdm(total=len(images), initial=done_images, desc=f"caching {spec.name}", unit="img", disable=not progress)
    last_flush = time.monotonic()
    for chunk, (ok, x, chunk_errors) in zip(todo, loader, strict=True):
        if chunk_errors and strict:
            raise ValueError(f"{chunk_errors[0]} (unreadable images are fatal here)")
        errors.extend(chunk_errors)
        if x is not None:
            out = lower(x.to(device)).to("cpu", dtype)
            if feats is None:
                shape = (len(images), spec.n_views, *out.shape[1:])
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    feats, status = _open_store(path, shape, np_dtype)
                else:
                    feats, status = np.zeros(shape, np_dtype), np.zeros(len(images), np.uint8)
            feats[ok] = out.numpy().reshape(len(ok), spec.n_views, *out.shape[1:])
        if status is None:  # nothing readable yet: marked when the status array exists
            early.append(chunk)
        else:
            for c in [*early, chunk]:
                status[c] = UNREADABLE
            status[ok] = DONE
            early.clear()
        bar.update(len(chunk))
        if isinstance(feats, np.memmap) and time.monotonic() - last_flush > 10:
            feats.flush()  # the features first, then the status that says they are there
            status.flush()  # type: ignore[union-attr]
            last_flush = time.monotonic()
    bar.close()
    if feats is None:
        raise ValueError(f"none of the {len(images)} images could be read (e.g. {errors[0] if errors else '?'})")
    if isinstance(feats, np.memmap):
        feats.flush()
        status.flush()  # type: ignore[union-attr]
        del feats
        return _cache_result(_map(path), np.asarray(status), errors, path, strict, images)  # type: ignore[arg-type]
    return _cache_result(torch.from_numpy(feats), np.asarray(status), errors, None, strict, images)


def _cache_result(
    features: Tensor,
    status: np.ndarray,
    errors: list[str],
    path: Path | None,
    strict: bool,
    images: Sequence[AnyImage],
) -> ViewCache:
    unreadable = np.flatnonzero(status != DONE)
    if not errors:  # a cache hit: the build that met them recorded which images they were
        errors = [f"{images[i]}: not a readable image (as recorded in {path})" for i in unreadable[:20]]
    if len(unreadable) and strict:
        raise ValueError(f"{errors[0]}; {len(unreadable)} unreadable image(s), which are fatal here")
    return ViewCache(features, unreadable, errors[:20], path)
