"""Readers of the multi-label formats users download (UCM multi-labels, COCO, VOC, NUS-WIDE, CSV), on small
hand-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssclip.data.multilabel import (
    read_coco_instances,
    read_multilabel_csv,
    read_nuswide,
    read_ucm_multilabel,
    read_voc,
)

from .helpers import write_image, write_json

# ----------------------------------------------------------------------------------------------------------
# UC Merced multi-labels


def write_ucm_multilabel(path: Path, rows: list[str]) -> Path:
    header = "IMAGE\\LABEL\tairplane\tbare-soil\tmobile-home"
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode())
    return path


def test_read_ucm_multilabel(tmp_path: Path) -> None:
    write_image(tmp_path / "Images" / "agricultural" / "agricultural00.jpg")
    write_image(tmp_path / "Images" / "airplane" / "airplane07.tif")
    write_image(tmp_path / "Images" / "mobilehomepark" / "mobilehomepark12.png")
    txt = write_ucm_multilabel(
        tmp_path / "LandUse_Multilabeled.txt",
        ["agricultural00\t0\t1\t0", "airplane07\t1\t1\t0", "mobilehomepark12\t0\t0\t1"],
    )
    data = read_ucm_multilabel(txt, tmp_path)
    assert data.classnames == ["airplane", "bare soil", "mobile home"]
    assert data.keys == ["agricultural00", "airplane07", "mobilehomepark12"]
    np.testing.assert_array_equal(data.labels, [[0, 1, 0], [1, 1, 0], [0, 0, 1]])
    assert data.images[1] == tmp_path / "Images" / "airplane" / "airplane07.tif"
    assert data.splits == [None, None, None]


def test_read_ucm_multilabel_original_layout_without_images_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "beach" / "beach03.tif")
    txt = write_ucm_multilabel(tmp_path / "labels.txt", ["beach03\t0\t0\t0"])
    assert read_ucm_multilabel(txt, tmp_path).images == [tmp_path / "beach" / "beach03.tif"]


def test_read_ucm_multilabel_errors(tmp_path: Path) -> None:
    write_image(tmp_path / "Images" / "beach" / "beach00.jpg")
    txt = write_ucm_multilabel(tmp_path / "l.txt", ["beach00\t0\t1\t0", "beach01\t0\t2\t0"])
    with pytest.raises(ValueError, match=r"l.txt, line 3, field 'bare-soil': expected 0 or 1, got '2'"):
        read_ucm_multilabel(txt, tmp_path)
    write_ucm_multilabel(txt, ["beach00\t0\t1"])
    with pytest.raises(ValueError, match=r"line 2: 3 fields, expected 4"):
        read_ucm_multilabel(txt, tmp_path)
    write_ucm_multilabel(txt, ["beach00\t0\t1\t0", "beach00\t0\t1\t0"])
    with pytest.raises(ValueError, match=r"line 3: image 'beach00' already listed on line 2"):
        read_ucm_multilabel(txt, tmp_path)
    write_ucm_multilabel(txt, ["beach00\t0\t1\t0", "river05\t0\t1\t0"])
    with pytest.raises(
        FileNotFoundError, match=r"1 image files not found .*\n  line 3 'river05'.*Images/river/river05"
    ):
        read_ucm_multilabel(txt, tmp_path)


# ----------------------------------------------------------------------------------------------------------
# COCO


def test_read_coco_instances(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(tmp_path / "val2014" / name)
    data = {
        "images": [
            {"id": 10, "file_name": "a.jpg"},
            {"id": 11, "file_name": "b.jpg"},
            {"id": 12, "file_name": "c.jpg"},
        ],
        "categories": [
            {"id": 7, "name": "traffic light"},
            {"id": 1, "name": "person"},
            {"id": 3, "name": "car"},
        ],
        "annotations": [
            {"id": 1, "image_id": 12, "category_id": 7},
            {"id": 2, "image_id": 10, "category_id": 1},
            {"id": 3, "image_id": 10, "category_id": 1},  # duplicates count once
            {"id": 4, "image_id": 10, "category_id": 7, "iscrowd": 1},
        ],
    }  # b.jpg has no annotation: dropped
    path = write_json(tmp_path / "annotations" / "instances_val2014.json", data)
    result = read_coco_instances(path, tmp_path / "val2014")
    assert result.classnames == ["person", "car", "traffic light"]
    assert result.keys == ["a.jpg", "c.jpg"]
    np.testing.assert_array_equal(result.labels, [[1, 0, 1], [0, 0, 1]])
    assert result.images == [tmp_path / "val2014" / "a.jpg", tmp_path / "val2014" / "c.jpg"]
    assert result.splits == ["val2014", "val2014"]

    data["annotations"].append({"id": 5, "image_id": 11, "category_id": 99})
    write_json(path, data)
    with pytest.raises(ValueError, match=r"annotations\[4\]: field 'category_id' = 99"):
        read_coco_instances(path, tmp_path / "val2014")


def test_read_coco_instances_missing_images(tmp_path: Path) -> None:
    data = {"images": [{"id": 1, "file_name": "x.jpg"}], "categories": [{"id": 1, "name": "dog"}],
            "annotations": [{"image_id": 1, "category_id": 1}]}  # fmt: skip
    path = write_json(tmp_path / "coco.json", data)
    with pytest.raises(FileNotFoundError, match=r"coco.json: 1 image files not found"):
        read_coco_instances(path, tmp_path)
    assert read_coco_instances(path, tmp_path, check_images=False).splits == [None]


# ----------------------------------------------------------------------------------------------------------
# Pascal VOC


def write_voc(root: Path, split: str, table: dict[str, dict[str, str]]) -> None:
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    ids = list(next(iter(table.values())))
    (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    for cls, values in table.items():
        (main / f"{cls}_{split}.txt").write_text(
            "".join(f"{i} {'' if v == '-1' else ' '}{v}\n" for i, v in values.items())
        )
    for i in ids:
        write_image(root / "JPEGImages" / f"{i}.jpg")


def test_read_voc_treats_difficult_as_negative(tmp_path: Path) -> None:
    table = {
        "diningtable": {"000005": "1", "000007": "-1", "000009": "0"},
        "aeroplane": {"000005": "-1", "000007": "1", "000009": "1"},
        "person": {"000005": "0", "000007": "-1", "000009": "1"},
    }
    write_voc(tmp_path, "train", table)
    write_voc(
        tmp_path,
        "val",
        {"aeroplane": {"000001": "1"}, "diningtable": {"000001": "-1"}, "person": {"000001": "1"}},
    )
    data = read_voc(tmp_path, "train")
    assert data.classnames == ["aeroplane", "dining table", "person"]
    assert data.keys == ["000005", "000007", "000009"]
    np.testing.assert_array_equal(data.labels, [[0, 1, 0], [1, 0, 0], [1, 0, 1]])
    assert data.images[0] == tmp_path / "JPEGImages" / "000005.jpg"
    assert data.splits == ["train"] * 3
    assert read_voc(tmp_path, "val").keys == ["000001"]  # trainval/val files do not leak into each other


def test_read_voc_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no '<class>_train.txt' files"):
        read_voc(tmp_path)
    write_voc(tmp_path, "train", {"cat": {"1": "1", "2": "-1"}, "dog": {"1": "1", "2": "-1"}})
    (tmp_path / "ImageSets" / "Main" / "dog_train.txt").write_text("1  1\n2 maybe\n")
    with pytest.raises(ValueError, match=r"dog_train.txt, line 2: expected '<image id> <1\|-1\|0>'"):
        read_voc(tmp_path)
    (tmp_path / "ImageSets" / "Main" / "dog_train.txt").write_text("1  1\n")
    with pytest.raises(ValueError, match=r"dog_train.txt: does not list the same images .*'2' is missing"):
        read_voc(tmp_path)


# ----------------------------------------------------------------------------------------------------------
# NUS-WIDE


@pytest.fixture
def nuswide(tmp_path: Path) -> Path:
    for rel in ("actor/0001_1.jpg", "airport/0002_2.jpg", "zebra/0003_3.jpg"):
        write_image(tmp_path / "Flickr" / rel)
    (tmp_path / "ImageList").mkdir()
    (tmp_path / "ImageList" / "Imagelist.txt").write_text(
        "actor\\0001_1.jpg\r\nC:\\ImageData\\Flickr\\airport\\0002_2.jpg\r\nzebra\\0003_3.jpg\r\n"
    )
    labels = tmp_path / "Groundtruth" / "AllLabels"
    labels.mkdir(parents=True)
    (labels / "Labels_sky.txt").write_text("1\n0\n0\n")
    (labels / "Labels_airport.txt").write_text("0\n1\n0\n")
    (labels / "Labels_sky_Train.txt").write_text("1\n")  # another naming family in the same folder
    return tmp_path


def test_read_nuswide_label_folder(nuswide: Path) -> None:
    data = read_nuswide(
        nuswide / "ImageList" / "Imagelist.txt", nuswide / "Groundtruth" / "AllLabels", nuswide / "Flickr"
    )
    assert data.classnames == ["airport", "sky"]
    assert data.keys == ["actor/0001_1.jpg", "airport/0002_2.jpg", "zebra/0003_3.jpg"]
    np.testing.assert_array_equal(data.labels, [[0, 1], [1, 0], [0, 0]])
    assert data.images[1] == nuswide / "Flickr" / "airport" / "0002_2.jpg"

    dropped = read_nuswide(
        nuswide / "ImageList" / "Imagelist.txt", nuswide / "Groundtruth" / "AllLabels", nuswide / "Flickr",
        concepts=["sky"], drop_unlabeled=True, split="train",
    )  # fmt: skip
    assert dropped.keys == ["actor/0001_1.jpg"] and dropped.classnames == ["sky"]
    assert dropped.splits == ["train"]


def test_read_nuswide_matrix_and_concepts_file(nuswide: Path) -> None:
    (nuswide / "Concepts81.txt").write_text("sky\nairport\n")
    (nuswide / "AllLabels81.txt").write_text("1 0\n0 1\n0 0\n")
    data = read_nuswide(
        nuswide / "ImageList" / "Imagelist.txt", nuswide / "AllLabels81.txt", nuswide / "Flickr",
        concepts=nuswide / "Concepts81.txt",
    )  # fmt: skip
    assert data.classnames == ["sky", "airport"]
    np.testing.assert_array_equal(data.labels, [[1, 0], [0, 1], [0, 0]])


def test_read_nuswide_errors(nuswide: Path) -> None:
    image_list = nuswide / "ImageList" / "Imagelist.txt"
    labels = nuswide / "Groundtruth" / "AllLabels"
    with pytest.raises(ValueError, match=r"Labels_sky_Train.txt: 1 label lines but .*Imagelist.txt lists 3 images"):
        read_nuswide(image_list, labels, nuswide / "Flickr", label_suffix="_Train")
    per_split = nuswide / "TrainTestLabels"
    per_split.mkdir()
    (per_split / "Labels_sky_Train.txt").write_text("1\n0\n1\n")
    with pytest.raises(FileNotFoundError, match=r"TrainTestLabels: no 'Labels_<concept>.txt' .*label_suffix='_Train'"):
        read_nuswide(image_list, per_split, nuswide / "Flickr")
    assert read_nuswide(image_list, per_split, nuswide / "Flickr", label_suffix="_Train").classnames == ["sky"]
    (labels / "Labels_sky.txt").write_text("1\n0\nyes\n")
    with pytest.raises(ValueError, match=r"Labels_sky.txt, line 3, field 'sky': expected 0 or 1"):
        read_nuswide(image_list, labels, nuswide / "Flickr")
    (nuswide / "m.txt").write_text("1 0\n0 1 1\n0 0\n")
    with pytest.raises(ValueError, match=r"m.txt, line 2: 3 values, expected 2"):
        read_nuswide(image_list, nuswide / "m.txt", nuswide / "Flickr", concepts=["a", "b"])
    with pytest.raises(ValueError, match="needs the concept names"):
        read_nuswide(image_list, nuswide / "m.txt", nuswide / "Flickr")


# ----------------------------------------------------------------------------------------------------------
# Generic multi-label CSV


def test_read_multilabel_csv_list_layout(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(tmp_path / name)
    path = tmp_path / "labels.csv"
    path.write_text("filepath,labels,split\na.jpg,trees;grass,train\nb.jpg,,test\nc.jpg, water ,train\n")
    data = read_multilabel_csv(path)
    assert data.classnames == ["grass", "trees", "water"]
    np.testing.assert_array_equal(data.labels, [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    assert data.splits == ["train", "test", "train"]
    assert data.images[0] == tmp_path / "a.jpg"

    fixed = read_multilabel_csv(path, classnames=["water", "trees", "grass", "sand"])
    np.testing.assert_array_equal(fixed.labels, [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"labels.csv, line 2, field 'labels': label 'grass' is not in classnames"):
        read_multilabel_csv(path, classnames=["trees", "water"])


def test_read_multilabel_csv_one_hot_layout(tmp_path: Path) -> None:
    write_image(tmp_path / "x" / "a.png")
    write_image(tmp_path / "x" / "b.png")
    path = tmp_path / "labels.tsv"
    path.write_text("image\tsea\tship\tsplit\na.png\t1\t0\tval\nb.png\t1\t1\ttrain\n")
    data = read_multilabel_csv(path, image_key="image", labels_key=None, image_root=tmp_path / "x")
    assert data.classnames == ["sea", "ship"]
    np.testing.assert_array_equal(data.labels, [[1, 0], [1, 1]])
    assert data.splits == ["val", "train"]
    only_ship = read_multilabel_csv(
        path, image_key="image", labels_key=None, label_columns=["ship"], image_root=tmp_path / "x"
    )
    np.testing.assert_array_equal(only_ship.labels, [[0], [1]])

    path.write_text("image\tsea\tship\na.png\t1\t0.5\n")
    with pytest.raises(ValueError, match=r"labels.tsv, line 2, field 'ship': expected 0 or 1, got '0.5'"):
        read_multilabel_csv(path, image_key="image", labels_key=None, image_root=tmp_path / "x")


def test_read_multilabel_csv_missing_column_and_images(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("filepath;labels\na.jpg;x\n")
    with pytest.raises(KeyError, match=r"\['filepath', 'labels'\] not found"):
        read_multilabel_csv(path)
    path.write_text("filepath,labels\na.jpg,x\n")
    with pytest.raises(FileNotFoundError, match=r"line 2 'a.jpg': tried"):
        read_multilabel_csv(path)
    assert read_multilabel_csv(path, check_images=False).keys == ["a.jpg"]
