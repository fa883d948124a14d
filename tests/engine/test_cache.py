"""The feature cache of the fast regime: reused when nothing changed, never stale when anything did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

from ssclip.engine.cache import ViewSpec, build_view_cache


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)) for _ in range(n)]


class CountingConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.calls = 0

    def forward(self, x):
        self.calls += len(x)
        return self.conv(x)


EVAL = T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor()])
TRAIN = T.Compose([T.RandomResizedCrop(16, scale=(0.3, 1.0)), T.RandomHorizontalFlip(), T.ToTensor()])


def _build(net, images, keys, tmp_path, spec=None):
    spec = spec or ViewSpec(TRAIN, EVAL, n_views=3, seed=0, name="t")
    return build_view_cache(net, [net], "toy", images, keys, spec, tmp_path, progress=False, batch_size=4).features


def test_cache_hit_reuses_features(tmp_path):
    net, images = CountingConv(), _images(5)
    keys = [f"k{i}" for i in range(5)]
    first = _build(net, images, keys, tmp_path)
    assert first.shape == (5, 3, 4, 7, 7) and net.calls == 15
    again = _build(net, images, keys, tmp_path)
    assert net.calls == 15 and torch.equal(first, again)
    assert len(list(tmp_path.glob("*.views.npy"))) == 1


def test_cache_is_never_stale(tmp_path):
    net, images = CountingConv(), _images(4)
    keys = [f"k{i}" for i in range(4)]
    base = _build(net, images, keys, tmp_path)
    changed = list(images)
    changed[2] = _images(1, seed=9)[0]  # one image's bytes change
    _build(net, changed, keys, tmp_path)
    with torch.no_grad():
        net.conv.weight.add_(0.1)  # the frozen weights change
    moved = _build(net, images, keys, tmp_path)
    other_tf = ViewSpec(
        TRAIN,
        T.Compose([T.Resize(16), T.CenterCrop(16), T.ToTensor(), T.Normalize(0.5, 0.5)]),
        n_views=3,
        seed=0,
        name="t",
    )
    _build(net, images, keys, tmp_path, other_tf)  # the transform changes
    assert len(list(tmp_path.glob("*.views.npy"))) == 4
    assert not torch.equal(base, moved)


def test_views_depend_on_key_not_order_and_view0_is_eval(tmp_path):
    net, images = CountingConv(), _images(4)
    keys = [f"k{i}" for i in range(4)]
    a = _build(net, images, keys, tmp_path)
    order = [3, 1, 0, 2]
    b = build_view_cache(
        net,
        [net],
        "toy",
        [images[i] for i in order],
        [keys[i] for i in order],
        ViewSpec(TRAIN, EVAL, 3, 0, "t"),
        None,
        progress=False,
    ).features
    assert torch.equal(a[order], b)
    with torch.no_grad():
        assert torch.allclose(a[0, 0].float(), net(EVAL(images[0])[None])[0], atol=1e-2)
    assert not torch.equal(a[:, 1], a[:, 2])  # augmented views differ


def _files(tmp_path, n: int, seed: int = 0) -> list:
    paths = []
    for i, im in enumerate(_images(n, seed)):
        paths.append(tmp_path / "img" / f"{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        im.save(paths[-1])
    return paths


class Killed(RuntimeError):
    pass


def _killed_build(paths: list, keys: list[str], root: Path) -> CountingConv:
    """A build of ``paths`` into ``root`` killed during the fifth image (one image of 3 views per batch of 4);
    the network it returns has counted the 12 views it computed and works again."""
    net = CountingConv()
    forward = net.forward

    def dies_after_12(x):
        if net.calls >= 12:
            raise Killed
        return forward(x)

    net.forward = dies_after_12
    with pytest.raises(Killed):
        _build(net, paths, keys, root)
    net.forward = forward
    return net


def test_a_killed_build_resumes_where_it_stopped_and_maps_the_file(tmp_path):
    paths = _files(tmp_path, 10)
    keys = [p.name for p in paths]
    reference = _build(CountingConv(), paths, keys, tmp_path / "ref")
    net = _killed_build(paths, keys, tmp_path / "c")
    resumed = build_view_cache(
        net, [net], "toy", paths, keys, ViewSpec(TRAIN, EVAL, 3, 0, "t"), tmp_path / "c", progress=False, batch_size=4
    )
    assert net.calls == 30  # 4 images before the kill, the other 6 after: none twice
    assert torch.equal(resumed.features, reference)
    assert resumed.path is not None and resumed.path.suffix == ".npy"
    maps = Path("/proc/self/maps").read_text()
    assert str(resumed.path.resolve()) in maps  # mapped, not loaded


def _disk_full(monkeypatch):
    import errno
    import os

    def no_room(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_room)


def test_the_store_is_reserved_on_disk_before_it_is_written(tmp_path):
    # A write through a memory map into an unallocated hole of a full disk is SIGBUS, which kills pytest or a
    # training run without a word: the whole file is allocated when it is created, before any write.
    from ssclip.engine.cache import _open_store

    feats, status = _open_store(tmp_path / "t-x.views.npy", (1000, 3, 64), np.dtype("float16"))
    for store in (feats, status):
        stat = Path(store.filename).stat()
        assert stat.st_blocks * 512 >= stat.st_size  # no holes


def test_a_full_disk_is_an_error_that_says_where_and_how_much(tmp_path, monkeypatch):
    paths = _files(tmp_path, 4)
    _disk_full(monkeypatch)
    with pytest.raises(OSError, match=r"needs .* GB in .*c but only .* GB are free.*--cache-dir"):
        _build(CountingConv(), paths, [p.name for p in paths], tmp_path / "c")
    assert not list((tmp_path / "c").glob("*.npy"))  # nothing half-made is left to be mistaken for a cache


def test_a_full_disk_on_resume_keeps_what_was_built(tmp_path, monkeypatch):
    paths = _files(tmp_path, 10)
    keys = [p.name for p in paths]
    net = _killed_build(paths, keys, tmp_path / "c")
    store = next((tmp_path / "c").glob("*.views.npy"))
    before = np.load(store).copy()
    with monkeypatch.context() as m:
        _disk_full(m)
        with pytest.raises(OSError, match="--cache-dir"):
            _build(CountingConv(), paths, keys, tmp_path / "c")
    assert np.array_equal(np.load(store), before)
    _build(net, paths, keys, tmp_path / "c")
    assert net.calls == 30  # the resume after the space was freed rebuilt nothing already done


def test_each_image_is_decoded_once_for_all_its_views_and_workers_change_nothing(tmp_path, monkeypatch):
    import ssclip.engine.cache as cache

    paths = _files(tmp_path, 6)
    keys = [p.name for p in paths]
    reads = []
    real = cache.read_image
    monkeypatch.setattr(cache, "read_image", lambda image: reads.append(image) or real(image))
    spec = ViewSpec(TRAIN, EVAL, n_views=4, seed=0, name="t")
    one = build_view_cache(CountingConv(), [CountingConv()], "toy", paths, keys, spec, None, progress=False).features
    assert sorted(reads) == sorted(paths)  # 6 decodes for 24 views
    two = build_view_cache(
        CountingConv(), [CountingConv()], "toy", paths, keys, spec, None, progress=False, workers=2
    ).features
    assert torch.equal(one, two)


def test_unreadable_images_are_skipped_and_listed_or_fatal_when_strict(tmp_path):
    paths = _files(tmp_path, 5)
    paths[3].write_bytes(b"not an image")
    keys = [p.name for p in paths]
    got = build_view_cache(
        CountingConv(),
        [CountingConv()],
        "toy",
        paths,
        keys,
        ViewSpec(TRAIN, EVAL, 2, 0, "t"),
        tmp_path / "c",
        progress=False,
    )
    assert got.unreadable.tolist() == [3] and "3.png" in got.errors[0]
    assert got.features[3].abs().sum() == 0 and got.features[2].abs().sum() > 0
    with pytest.raises(ValueError, match=r"3\.png"):
        build_view_cache(
            CountingConv(),
            [CountingConv()],
            "toy",
            paths,
            keys,
            ViewSpec(TRAIN, EVAL, 2, 0, "t"),
            tmp_path / "d",
            progress=False,
            strict=True,
        )


def test_unchanged_files_are_not_hashed_again(tmp_path, monkeypatch):
    import os

    import ssclip.engine.cache as cache

    paths = _files(tmp_path, 4)
    keys = [p.name for p in paths]
    _build(CountingConv(), paths, keys, tmp_path / "c")
    hashed = []
    real = cache.image_digest
    monkeypatch.setattr(cache, "image_digest", lambda image: hashed.append(image) or real(image))
    net = CountingConv()
    _build(net, paths, keys, tmp_path / "c")
    assert hashed == [] and net.calls == 0  # size and mtime unchanged: no file read, cache hit
    _images(1, seed=5)[0].save(paths[1])
    os.utime(paths[1], ns=(1, 1))  # new bytes (and a new mtime)
    _build(net, paths, keys, tmp_path / "c")
    assert hashed == [paths[1]] and net.calls == 12


def test_files_that_decoded_once_are_not_decoded_again_until_they_change(tmp_path):
    import os

    from ssclip.data.types import check_images_readable
    from ssclip.engine.cache import DigestMemo

    paths = _files(tmp_path, 3)
    pictures = _images(1, seed=9)
    memo = DigestMemo(tmp_path / "c" / "digests.sqlite")
    assert memo.not_yet_readable([*paths, *pictures]) == paths  # in-memory pictures need no check
    memo.mark_readable(paths)
    assert memo.not_yet_readable(paths) == []
    paths[2].write_bytes(b"truncated")  # a changed file is checked again, and named
    os.utime(paths[2], ns=(2, 2))
    todo = memo.not_yet_readable(paths)
    assert todo == [paths[2]]
    with pytest.raises(ValueError, match="1 unreadable image"):
        check_images_readable(todo, "data")
    (tmp_path / "gone.png").touch()
    (tmp_path / "gone.png").unlink()
    assert memo.not_yet_readable([tmp_path / "gone.png"]) == [tmp_path / "gone.png"]  # missing: the check says so
    memo.close()
    assert DigestMemo(None).not_yet_readable(paths) == paths  # no cache folder: every run checks every file
