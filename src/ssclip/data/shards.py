"""webdataset shards, as open_clip's ``--train-data``: brace-expanded local ``.tar`` files whose samples are
members sharing a key (``000123.jpg`` + ``000123.txt``).

URLs are expanded (braces, ``::`` lists) and members grouped into samples by webdataset's own rules
(``expand_urls``, ``base_plus_ext``). webdataset reads shards as sequential streams, but training here draws
items by index (per-item seeded augmentations, O(batch) draws, exact resume, a cache row per image), so each
shard's members are indexed once by their tar headers (:mod:`tarfile` seeks over the data) and an image's bytes
are read at its offset when needed. Only image members (by extension) and text members are ever decoded: never
webdataset's pickle or torch handlers.
"""

from __future__ import annotations

import logging
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


def index_shards(spec: str | Path, text_exts: tuple[str, ...] = (), progress: bool = True) -> list[ShardSample]:
    """Every sample of every shard of ``spec``, in shard then member order (a progress bar over the shards)."""
    shards = expand_shards(spec)
    out: list[ShardSample] = []
    for path in tqdm(shards, desc="indexing shards", unit="shard", disable=not progress or len(shards) < 2):
        out.extend(index_shard(path, text_exts))
    if not out:
        raise ValueError(f"{spec}: the shards hold no samples")
    return out


def shard_images(spec: str | Path, progress: bool = True) -> tuple[list[ShardMember], list[str]]:
    """The image of every sample (a pool's images) and the samples' keys; samples without an image are
    skipped with a warning."""
    samples = index_shards(spec, progress=progress)
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


def read_caption_shards(spec: str | Path, caption_ext: str = "txt", progress: bool = True) -> list[ImageCaptions]:
    """Image-caption pairs from shards of ``key.jpg`` + ``key.txt`` (open_clip's webdataset layout): one record
    per sample, one caption each (``key`` as in :func:`index_shards`)."""
    caption_ext = caption_ext.lower().lstrip(".")
    records = []
    for s in index_shards(spec, text_exts=(caption_ext,), progress=progress):
        if s.image is None:
            raise ValueError(f"{s.where}: no image member ({', '.join(SHARD_IMAGE_EXTENSIONS)}) beside its caption")
        caption = normalize_caption(s.texts.get(caption_ext, ""))
        if not caption:
            raise ValueError(f"{s.where}: no caption; expected a non-empty '{caption_ext}' member")
        records.append(ImageCaptions(image=s.image, captions=(caption,), key=s.key))  # type: ignore[arg-type]
    return records
