"""webdataset shards, as open_clip's ``--train-data``: brace-expanded local ``.tar`` files whose samples are
members sharing a key (``000123.jpg`` + ``000123.txt``).

URLs are expanded (braces, ``::`` lists) and members grouped into samples by webdataset's own rules
(``expand_urls``, ``base_plus_ext``). webdataset reads shards as sequential streams, but training here draws
items by index (per-item seeded augmentations, O(batch) draws, exact resume, a cache row per image), so each
shard's members are indexed once by their tar headers (:mod:`tarfile` seeks over the data) and an image's bytes
are read at its offset when needed. Only image members (by extension) and text members are ever decoded: never
webdataset's pickle or torch handlers.

Indexing costs ~60 us per sample with the shard in the page cache (0.6 s for a 10k-sample shard; a million
images: a minute, more from a cold disk), so with an ``index_dir`` each shard's index is kept there as JSON,
keyed by the shard's absolute path, size and modification time, and re-read instead of the headers while the
shard is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm
from webdataset.shardlists import expand_urls
from webdataset.tariterators import base_plus_ext

from ssclip.data.captions import normalize_caption
from ssclip.data.types import ImageCaptions

log = logging.getLogger(__name__)

# Member extensions read as images (what PIL decodes), checked lower-cased; as webdataset's "jpg;png;..." keys.
SHARD_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif")


@dataclass(frozen=True)
class ShardMember:
    """One image member of a tar shard, read by offset (no extraction)."""

    shard: str
    name: str
    offset: int
    size: int

    def __str__(self) -> str:
        return f"{self.shard} (member {self.name})"

    def read_bytes(self) -> bytes:
        with open(self.shard, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise ValueError(f"{self}: truncated shard, expected {self.size} bytes, found {len(data)}")
        return data


@dataclass
class ShardSample:
    key: str  # "<shard file name>/<sample key>": unique across the shards, stable when the shards are moved
    image: ShardMember | None
    texts: dict[str, str] = field(default_factory=dict)  # extension -> decoded text (only when asked for)
    where: str = ""  # shard and member names, for error messages


def is_shard_spec(spec: str | Path) -> bool:
    """Whether a data or pool argument names webdataset shards (``.tar``, braces allowed)."""
    return any(part.strip().endswith(".tar") for part in str(spec).split("::"))


def expand_shards(spec: str | Path) -> list[Path]:
    """The local shard files of ``'pool/{000000..000099}.tar'`` (braces, ``::``-joined lists), all present."""
    urls = expand_urls(str(spec))
    remote = [u for u in urls if "://" in u or u.startswith("pipe:")]
    if remote:
        raise ValueError(f"{remote[0]}: only local shard files are read; copy or mount the shards first")
    paths = [Path(u) for u in urls]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        raise FileNotFoundError(
            f"{spec}: {len(missing)} of {len(paths)} shard files do not exist (e.g. {shown}); expected .tar "
            "files of webdataset samples (key.jpg + key.txt)"
        )
    return paths


def _members(path: Path, text_exts: tuple[str, ...]) -> Iterator[tuple[str, str, tarfile.TarInfo, str | None]]:
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                prefix, ext = base_plus_ext(info.name)
                if prefix is None or ext is None:
                    continue
                ext = ext.lower()
                text = None
                if ext in text_exts:
                    raw = tar.extractfile(info)
                    try:
                        text = raw.read().decode("utf-8") if raw is not None else ""
                    except UnicodeDecodeError as e:
                        raise ValueError(f"{path} (member {info.name}): text is not UTF-8 ({e})") from None
                yield prefix, ext, info, text
    except tarfile.TarError as e:
        raise ValueError(f"{path}: not a readable tar shard ({e}); expected webdataset .tar shards") from None


def index_shard(path: str | Path, text_exts: tuple[str, ...] = ()) -> list[ShardSample]:
    """The samples of one shard in member order; ``text_exts`` members are read and decoded as UTF-8."""
    path = Path(path)
    samples: list[ShardSample] = []
    current: str | None = None
    for prefix, ext, info, text in _members(path, text_exts):
        if prefix != current:  # webdataset groups consecutive members with the same key
            current = prefix
            samples.append(ShardSample(f"{path.name}/{prefix}", None, where=f"{path} (sample {prefix})"))
        sample = samples[-1]
        if ext in SHARD_IMAGE_EXTENSIONS and sample.image is None:
            sample.image = ShardMember(str(path), info.name, info.offset_data, info.size)
        elif text is not None:
            sample.texts[ext] = text
    return samples


def _memo_file(path: Path, text_exts: tuple[str, ...], index_dir: Path) -> Path:
    # One file per shard and text extensions read: a pool (images only) and captions (+ txt) do not evict each other.
    name = "\n".join([str(path.resolve()), *sorted(text_exts)])
    return index_dir / (hashlib.sha1(name.encode()).hexdigest()[:24] + ".json")


def _identity(path: Path, text_exts: tuple[str, ...]) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "texts": sorted(text_exts)}


def _remembered(path: Path, text_exts: tuple[str, ...], index_dir: Path) -> list[ShardSample] | None:
    """The kept index of an unchanged shard, or None (none kept, the shard changed, or the file is unreadable)."""
    try:
        kept = json.loads(_memo_file(path, text_exts, index_dir).read_text(encoding="utf-8"))
        if kept.get("shard") != _identity(path, text_exts):
            return None
        return [
            ShardSample(
                f"{path.name}/{prefix}",
                ShardMember(str(path), *image) if image else None,
                texts,
                where=f"{path} (sample {prefix})",
            )
            for prefix, image, texts in kept["samples"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember(path: Path, text_exts: tuple[str, ...], index_dir: Path, samples: list[ShardSample]) -> None:
    rows = [
        [s.key.split("/", 1)[1], [s.image.name, s.image.offset, s.image.size] if s.image else None, s.texts]
        for s in samples
    ]
    target = _memo_file(path, text_exts, index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"shard": _identity(path, text_exts), "samples": rows}), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:  # a read-only cache costs time, not the run
        log.warning("%s: could not keep the index of %s (%s); it will be rebuilt next run", index_dir, path, e)


def index_shards(
    spec: str | Path, text_exts: tuple[str, ...] = (), progress: bool = True, index_dir: str | Path | None = None
) -> list[ShardSample]:
    """Every sample of every shard of ``spec``, in shard then member order (a progress bar over the shards).
    With ``index_dir``, the index of each unchanged shard is re-read from there (module docstring)."""
    shards = expand_shards(spec)
    memo = Path(index_dir) if index_dir is not None else None
    out: list[ShardSample] = []
    for path in tqdm(shards, desc="indexing shards", unit="shard", disable=not progress or len(shards) < 2):
        samples = _remembered(path, text_exts, memo) if memo is not None else None
        if samples is None:
            samples = index_shard(path, text_exts)
            if memo is not None:
                _remember(path, text_exts, memo, samples)
        out.extend(samples)
    if not out:
        raise ValueError(f"{spec}: the shards hold no samples")
    return out


def shard_images(
    spec: str | Path, progress: bool = True, index_dir: str | Path | None = None
) -> tuple[list[ShardMember], list[str]]:
    """The image of every sample (a pool's images) and the samples' keys; samples without an image are
    skipped with a warning."""
    samples = index_shards(spec, progress=progress, index_dir=index_dir)
    kept = [s for s in samples if s.image is not None]
    if len(kept) < len(samples):
        missing = [s.where for s in samples if s.image is None]
        log.warning(
            "%s: %d of %d samples have no image member (%s), skipped (e.g. %s)",
            spec,
            len(missing),
            len(samples),
            ", ".join(SHARD_IMAGE_EXTENSIONS),
            missing[0],
        )
    if not kept:
        raise ValueError(f"{spec}: no sample has an image member ({', '.join(SHARD_IMAGE_EXTENSIONS)})")
    return [s.image for s in kept if s.image is not None], [s.key for s in kept]


def read_caption_shards(
    spec: str | Path, caption_ext: str = "txt", progress: bool = True, index_dir: str | Path | None = None
) -> list[ImageCaptions]:
    """Image-caption pairs from shards of ``key.jpg`` + ``key.txt`` (open_clip's webdataset layout): one record
    per sample, one caption each (``key`` as in :func:`index_shards`)."""
    caption_ext = caption_ext.lower().lstrip(".")
    records = []
    for s in index_shards(spec, text_exts=(caption_ext,), progress=progress, index_dir=index_dir):
        if s.image is None:
            raise ValueError(f"{s.where}: no image member ({', '.join(SHARD_IMAGE_EXTENSIONS)}) beside its caption")
        caption = normalize_caption(s.texts.get(caption_ext, ""))
        if not caption:
            raise ValueError(f"{s.where}: no caption; expected a non-empty '{caption_ext}' member")
        records.append(ImageCaptions(image=s.image, captions=(caption,), key=s.key))  # type: ignore[arg-type]
    return records
