"""webdataset shards: brace-expanded local tar files, indexed for random access, read without unpickling."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssclip.data.images import read_image, read_pool
from ssclip.data.shards import expand_shards, read_caption_shards


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def write_shard(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_brace_expanded_shards_give_images_and_captions_by_offset(tmp_path):
    for s in range(2):
        members = {}
        for i in range(2):  # a sample's members are consecutive, as webdataset writes them
            members |= {f"{s}_{i}.png": _png(10 * s + i), f"{s}_{i}.txt": b"cap %d %d ." % (s, i)}
        write_shard(tmp_path / f"{s:03d}.tar", members)
    records = read_caption_shards(str(tmp_path / "{000..001}.tar"), progress=False)
    assert [r.key for r in records] == ["000.tar/0_0", "000.tar/0_1", "001.tar/1_0", "001.tar/1_1"]
    assert records[3].captions == ("cap 1 1.",)
    expected = np.asarray(Image.open(io.BytesIO(_png(11))).convert("RGB"))
    assert np.array_equal(np.asarray(read_image(records[3].image)), expected)
    pool = read_pool(str(tmp_path / "{000..001}.tar"))
    assert len(pool) == 4 and pool.keys == [r.key for r in records]


def test_bad_shards_name_the_shard_and_the_member(tmp_path):
    write_shard(tmp_path / "0.tar", {"a.png": _png(0)})
    with pytest.raises(FileNotFoundError, match=r"1 of 2 shard files do not exist"):
        expand_shards(str(tmp_path / "{0..1}.tar"))
    write_shard(tmp_path / "b.tar", {"x.png": b"not a png", "x.txt": b"hello"})
    (rec,) = read_caption_shards(tmp_path / "b.tar", progress=False)
    with pytest.raises(ValueError, match=r"b\.tar \(member x\.png\): not a readable image"):
        read_image(rec.image)
    write_shard(tmp_path / "c.tar", {"y.png": _png(1)})
    with pytest.raises(ValueError, match=r"c\.tar \(sample y\): no caption"):
        read_caption_shards(tmp_path / "c.tar", progress=False)
    (tmp_path / "d.tar").write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match=r"d\.tar: not a readable tar shard"):
        read_pool(str(tmp_path / "d.tar"))
    write_shard(tmp_path / "e.tar", {"z.pyd": b"\x80\x04K\x01.", "z.txt": b"t"})  # a pickle is never decoded
    with pytest.raises(ValueError, match=r"e\.tar: no sample has an image member"):
        read_pool(str(tmp_path / "e.tar"))


def test_shard_indexes_are_kept_between_runs_until_the_shard_changes(tmp_path, monkeypatch):
    from ssclip.data import shards

    spec = str(tmp_path / "{0..1}.tar")
    for s in range(2):
        write_shard(tmp_path / f"{s}.tar", {f"{s}_a.png": _png(s), f"{s}_a.txt": b"first %d ." % s})
    index_dir = tmp_path / "cache" / "shards"
    first = read_caption_shards(spec, progress=False, index_dir=index_dir)
    assert len(list(index_dir.glob("*.json"))) == 2  # one per shard

    read_headers = []
    real = shards.index_shard
    monkeypatch.setattr(shards, "index_shard", lambda path, exts=(): read_headers.append(path) or real(path, exts))
    again = read_caption_shards(spec, progress=False, index_dir=index_dir)
    assert read_headers == [] and again == first  # unchanged shards: no header is read
    assert read_pool(spec, index_dir=index_dir).keys == [r.key for r in first]
    assert read_headers == [tmp_path / "0.tar", tmp_path / "1.tar"]  # a pool needs no texts: its own index

    read_headers.clear()
    write_shard(
        tmp_path / "1.tar", {"1_a.png": _png(1), "1_a.txt": b"changed .", "1_b.png": _png(2), "1_b.txt": b"new ."}
    )
    changed = read_caption_shards(spec, progress=False, index_dir=index_dir)
    assert read_headers == [tmp_path / "1.tar"]  # only the changed shard is read again
    assert [r.captions[0] for r in changed] == ["first 0.", "changed.", "new."]

    for kept in index_dir.glob("*.json"):  # an unreadable index costs time, never a wrong sample
        kept.write_text("{not json")
    read_headers.clear()
    assert read_caption_shards(spec, progress=False, index_dir=index_dir) == changed
    assert len(read_headers) == 2
