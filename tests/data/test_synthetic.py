"""The embedded synthetic aerial set: determinism, balance, annotations matching the drawing, file export."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from ssclip.data import synthetic
from ssclip.data.synthetic import (
    CAPTION_VOCABULARY,
    OBJECT_LABELS,
    SCENE_CLASSES,
    SyntheticAerial,
    caption_objects,
    class_folder,
    generate_synthetic,
    make_splits,
    save_grid,
    write_synthetic,
)
from ssclip.data.types import ClassificationSet, ImageCaptions, MultiLabelSet

C = len(SCENE_CLASSES)


@pytest.fixture(scope="module")
def data() -> SyntheticAerial:
    # 10 images per class: enough variety to hit the optional objects of every scene.
    return generate_synthetic(10 * C, seed=0)


def _positive(data: SyntheticAerial, i: int) -> set[str]:
    return {name for name, v in zip(data.labelnames, data.labels[i], strict=True) if v}


# ----------------------------------------------------------------------------------------------------------
# determinism and shapes


def test_same_seed_gives_identical_bytes() -> None:
    a = generate_synthetic(2 * C, seed=3)
    b = generate_synthetic(2 * C, seed=3)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.captions == b.captions
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.targets, b.targets)


def test_different_seed_gives_different_images() -> None:
    a = generate_synthetic(C, seed=0)
    b = generate_synthetic(C, seed=1)
    assert np.array_equal(a.targets, b.targets)  # the class assignment depends on n only
    for i in range(C):  # every image differs, not just one
        assert not np.array_equal(a.images[i], b.images[i])


def test_larger_n_extends_smaller_n() -> None:
    small = generate_synthetic(5, seed=2)
    large = generate_synthetic(15, seed=2)
    assert small.images.tobytes() == large.images[:5].tobytes()
    assert small.captions == large.captions[:5]


def test_shapes_and_dtypes(data: SyntheticAerial) -> None:
    n = 10 * C
    assert data.images.shape == (n, 128, 128, 3) and data.images.dtype == np.uint8
    assert data.labels.shape == (n, len(OBJECT_LABELS)) and data.labels.dtype == np.uint8
    assert set(np.unique(data.labels)) <= {0, 1}
    assert data.targets.shape == (n,) and np.issubdtype(data.targets.dtype, np.integer)
    assert data.classnames == SCENE_CLASSES and data.labelnames == OBJECT_LABELS
    assert len(data.captions) == n and all(len(c) == 5 for c in data.captions)
    assert all(isinstance(s, str) and s for caps in data.captions for s in caps)
    # real pictures, not flat fills: every image has texture
    assert all(data.images[i].std() > 8 for i in range(n))


def test_image_size_is_configurable() -> None:
    small = generate_synthetic(3, seed=0, image_size=64)
    assert small.images.shape == (3, 64, 64, 3)
    empty = generate_synthetic(0)
    assert empty.images.shape == (0, 128, 128, 3) and empty.labels.shape == (0, len(OBJECT_LABELS))


def test_classes_are_balanced_with_remainder_spread() -> None:
    n = 3 * C + 4
    data = generate_synthetic(n, seed=0)
    counts = np.bincount(data.targets, minlength=C)
    assert counts.tolist() == [4] * 4 + [3] * (C - 4)


def test_class_subset_accepts_readable_and_folder_names() -> None:
    data = generate_synthetic(7, seed=0, classes=["storage_tanks", "beach"])
    assert data.classnames == ["storage tanks", "beach"]
    assert data.targets.tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert all("tank" in _positive(data, i) for i in range(0, 7, 2))
    assert all({"sand", "water"} <= _positive(data, i) for i in range(1, 7, 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"n": 2, "seed": -3}, "seed must be"),
        ({"n": 2, "image_size": 16}, "image_size"),
        ({"n": 2, "classes": ["volcano"]}, "unknown synthetic scene class 'volcano'"),
        ({"n": 2, "classes": ["beach", "beach"]}, "listed twice"),
        ({"n": 2, "classes": "beach"}, "list of class names"),
    ],
)
def test_bad_arguments_are_reported(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_synthetic(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# annotations match what is drawn

# Objects every image of a class has by construction, and objects it can never contain.
REQUIRED = {
    "residential": {"building", "road"},
    "forest": {"tree"},
    "harbor": {"water", "boat", "dock"},
    "airport": {"airplane", "pavement"},
    "storage tanks": {"tank"},
    "farmland": {"field"},
    "river": {"water"},
    "parking lot": {"car", "pavement"},
    "tennis courts": {"court"},
    "beach": {"sand", "water"},
    "freeway": {"road"},
}
FORBIDDEN = {
    "residential": {"airplane", "boat", "tank", "court", "dock", "field", "water", "sand"},
    "forest": {"airplane", "boat", "building", "car", "court", "dock", "field", "road", "water", "tank"},
    "harbor": {"airplane", "car", "court", "field", "tank", "tree", "grass"},
    "airport": {"boat", "car", "court", "dock", "field", "tank", "water", "sand"},
    "storage tanks": {"airplane", "boat", "court", "dock", "field", "water", "tree"},
    "farmland": {"airplane", "boat", "building", "car", "court", "dock", "tank", "water"},
    "river": {"airplane", "boat", "building", "car", "court", "dock", "field", "tank"},
    "parking lot": {"airplane", "boat", "building", "court", "dock", "field", "tank", "water"},
    "tennis courts": {"airplane", "boat", "car", "dock", "field", "tank", "water"},
    "beach": {"airplane", "car", "court", "dock", "field", "tank"},
    "freeway": {"airplane", "boat", "building", "court", "dock", "field", "tank", "water"},
}


def test_labels_match_the_scene(data: SyntheticAerial) -> None:
    for i in range(len(data)):
        scene = data.classnames[data.targets[i]]
        positive = _positive(data, i)
        assert REQUIRED[scene] <= positive, (i, scene, positive)
        assert not FORBIDDEN[scene] & positive, (i, scene, positive)


def test_labels_vary_within_a_class(data: SyntheticAerial) -> None:
    # optional objects (trees by the freeway, sandy river banks, boats off the beach) come and go
    for scene in ("river", "freeway", "beach", "tennis courts", "storage tanks"):
        rows = data.labels[data.targets == SCENE_CLASSES.index(scene)]
        assert len({tuple(r) for r in rows}) > 1, scene


def test_objects_are_shared_between_classes(data: SyntheticAerial) -> None:
    def classes_with(label: str) -> set[str]:
        column = data.labels[:, OBJECT_LABELS.index(label)].astype(bool)
        return {data.classnames[t] for t in data.targets[column]}

    assert {"residential", "parking lot", "freeway"} <= classes_with("car")
    assert {"residential", "forest", "river", "tennis courts"} <= classes_with("tree")
    assert {"harbor", "river", "beach"} <= classes_with("water")


def test_visible_labels_come_from_the_label_map() -> None:
    # The canvas labels what is actually visible: an object drawn outside the frame or hidden under
    # another object does not count; a small object inside does.
    def canvas() -> synthetic._Canvas:
        ground = Image.new("RGB", (64, 64), (90, 120, 60))
        return synthetic._Canvas(64, ground, (90, 120, 60), "grass", sun_angle=0.5)

    cv = canvas()
    synthetic._car(cv, 64.0, 64.0, 0.0, (200, 0, 0))
    assert cv.visible_labels() == ["car", "grass"]
    cv = canvas()
    synthetic._car(cv, 140.0, 64.0, 0.0, (200, 0, 0))  # right of the 128-unit frame
    assert cv.visible_labels() == ["grass"]
    cv = canvas()
    synthetic._car(cv, 64.0, 64.0, 0.0, (200, 0, 0))
    cv.circle(64.0, 64.0, 8.0, (50, 80, 40), "tree")  # a crown covering the car entirely
    assert cv.visible_labels() == ["grass", "tree"]
    cv = canvas()
    cv.set_rotation(np.pi / 2)  # layout x runs down the image after a quarter turn
    assert cv.frame_point(100.0, 64.0) == pytest.approx((64.0, 100.0))


def test_caption_vocabulary_lookup() -> None:
    assert caption_objects("A harbor with three white boats moored at the docks.") == {"boat", "dock"}
    assert caption_objects("Many cars are parked in the parking lot.") == {"car", "pavement"}
    assert caption_objects("The sea is on the left side of the sandy beach.") == {"water", "sand"}
    assert caption_objects("This is an airport.") == set()
    assert set(CAPTION_VOCABULARY) == set(OBJECT_LABELS)


def test_captions_mention_only_present_objects(data: SyntheticAerial) -> None:
    for i, caps in enumerate(data.captions):
        positive = _positive(data, i)
        for caption in caps:
            assert caption_objects(caption) <= positive, (i, caption, positive)


def test_captions_describe_the_scene(data: SyntheticAerial) -> None:
    # Across its captions, every image names at least one of its class's defining objects.
    for i, caps in enumerate(data.captions):
        scene = data.classnames[data.targets[i]]
        mentioned = set().union(*(caption_objects(c) for c in caps))
        assert mentioned & REQUIRED[scene], (i, scene, caps)


def test_captions_are_varied_sentences(data: SyntheticAerial) -> None:
    for caps in data.captions:
        assert len(set(caps)) >= 3, caps
        for c in caps:
            assert c[0].isupper() and c.endswith("."), c
            assert "  " not in c and " ." not in c, c
    all_captions = {c for caps in data.captions for c in caps}
    assert len(all_captions) > 2 * len(data)  # not a handful of fixed strings


def test_count_words_agree_with_labels() -> None:
    # a caption that counts tennis courts uses the number drawn: courts are 1..4 and all inside the frame
    data = generate_synthetic(20, seed=4, classes=["tennis courts"])
    words = {"one": 1, "two": 2, "three": 3, "four": 4}
    counts = set()
    for caps in data.captions:
        numbers = {words[w] for c in caps for w in c.lower().split() if w in words}
        assert len(numbers) <= 1, caps  # all captions of one image agree on the count
        counts |= numbers
    assert len(counts) >= 2  # and the count varies between images


# ----------------------------------------------------------------------------------------------------------
# views, subsets, splits, files


def test_record_views(data: SyntheticAerial) -> None:
    records = data.caption_records(split="train")
    assert len(records) == len(data) and isinstance(records[0], ImageCaptions)
    r = records[12]
    assert r.key == "synthetic/00012" and r.label == int(data.targets[12]) and r.split == "train"
    assert r.captions == data.captions[12]
    assert np.array_equal(np.asarray(r.image), data.images[12])

    cls = data.classification()
    assert isinstance(cls, ClassificationSet) and cls.targets == data.targets.tolist()
    assert cls.classnames == SCENE_CLASSES and cls.keys[0] == "synthetic/00000"

    ml = data.multilabel()
    assert isinstance(ml, MultiLabelSet) and np.array_equal(ml.labels, data.labels)
    assert ml.classnames == OBJECT_LABELS


def test_split_mapping_annotates_records(data: SyntheticAerial) -> None:
    splits = make_splits(len(data), seed=0)
    names = [r.split for r in data.caption_records(split=splits)]
    for name, idx in splits.items():
        assert all(names[i] == name for i in idx)
    assert data.multilabel(split=splits).splits == names


def test_subset_keeps_keys_and_rows(data: SyntheticAerial) -> None:
    sub = data.subset([5, 2, 40])
    assert sub.keys == ["synthetic/00005", "synthetic/00002", "synthetic/00040"]
    assert np.array_equal(sub.images[2], data.images[40]) and sub.captions[1] == data.captions[2]
    assert np.array_equal(sub.labels, data.labels[[5, 2, 40]]) and sub.classnames == data.classnames
    assert sub.subset([2]).keys == ["synthetic/00040"]  # ids survive nested subsets
    with pytest.raises(IndexError, match="subset"):
        data.subset([len(data)])


def test_make_splits_is_stratified_and_disjoint() -> None:
    n = 10 * C
    splits = make_splits(n, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert sorted(splits) == ["test", "train", "val"]
    everything = np.concatenate(list(splits.values()))
    assert sorted(everything.tolist()) == list(range(n))  # a partition
    targets = np.arange(n) % C
    assert np.bincount(targets[splits["test"]], minlength=C).tolist() == [2] * C
    assert np.bincount(targets[splits["val"]], minlength=C).tolist() == [1] * C
    again = make_splits(n, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)
    other = make_splits(n, seed=1, val_fraction=0.1, test_fraction=0.2)
    assert not np.array_equal(splits["test"], other["test"])
    with pytest.raises(ValueError, match="sum < 1"):
        make_splits(n, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="targets has 3 entries"):
        make_splits(n, targets=[0, 1, 2])


def test_write_synthetic_round_trip(tmp_path) -> None:
    data = generate_synthetic(2 * C, seed=5).subset(range(1, 2 * C))  # ids 1..21
    splits = make_splits(len(data), seed=0, targets=data.targets)
    paths = write_synthetic(tmp_path / "syn", data, splits)
    root = tmp_path / "syn"
    assert paths["captions"] == root / "captions.json" and paths["labels"] == root / "labels.csv"

    doc = json.loads(paths["captions"].read_text())
    assert doc["dataset"] == "synthetic" and len(doc["images"]) == len(data)
    split_of = {int(i): name for name, idx in splits.items() for i in idx}
    for pos, entry in enumerate(doc["images"]):
        cls = data.classnames[data.targets[pos]]
        assert entry["filename"] == f"images/{class_folder(cls)}/{data.ids[pos]:05d}.png"
        assert [s["raw"] for s in entry["sentences"]] == list(data.captions[pos])
        assert entry["split"] == split_of[pos]
        with Image.open(root / entry["filename"]) as im:
            assert np.array_equal(np.asarray(im.convert("RGB")), data.images[pos])  # PNG is lossless

    with paths["labels"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(data) and rows[0]["filepath"] == doc["images"][0]["filename"]
    for pos, row in enumerate(rows):
        names = set(row["labels"].split(";")) if row["labels"] else set()
        assert names == _positive(data, pos)


def test_write_synthetic_defaults_and_errors(tmp_path) -> None:
    data = generate_synthetic(C, seed=0)
    doc = json.loads(write_synthetic(tmp_path / "a", data)["captions"].read_text())
    assert {e["split"] for e in doc["images"]} <= {"train", "val", "test"}
    with pytest.raises(ValueError, match="image 3 is in none"):
        write_synthetic(tmp_path / "b", data, {"train": np.array([0, 1, 2])})
    with pytest.raises(ValueError, match="overlap"):
        write_synthetic(tmp_path / "c", data, {"train": np.arange(C), "test": np.array([0])})


def test_save_grid_writes_a_small_labelled_png(tmp_path) -> None:
    data = generate_synthetic(2 * 3, seed=0, classes=["forest", "harbor", "beach"])
    path = save_grid(data, tmp_path / "figs" / "grid.png", per_class=2)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 2 * 90 and im.height >= 3 * 90
    assert path.stat().st_size < 200_000
