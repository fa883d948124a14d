"""UC Merced as shipped in ../shared/data/ucm: the README's counts, and the three annotation sets aligned."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ssclip.data.captions import read_caption_json
from ssclip.data.classfolders import read_class_folders
from ssclip.data.ucm import UCMData, load_ucm, ucm_filename_rule

pytestmark = pytest.mark.ucm

README_LABEL_COUNTS = [100, 718, 691, 886, 115, 105, 100, 103, 975, 102, 1300, 294, 100, 102, 100, 1009, 203]
READABLE_CLASSES = [
    "agricultural", "airplane", "baseball diamond", "beach", "buildings", "chaparral", "dense residential",
    "forest", "freeway", "golf course", "harbor", "intersection", "medium residential", "mobile home park",
    "overpass", "parking lot", "river", "runway", "sparse residential", "storage tanks", "tennis court",
]  # fmt: skip
READABLE_LABELS = [
    "airplane", "bare soil", "buildings", "cars", "chaparral", "court", "dock", "field", "grass",
    "mobile home", "pavement", "sand", "sea", "ship", "tanks", "trees", "water",
]  # fmt: skip


@pytest.fixture(scope="module")
def ucm(ucm_root: Path) -> UCMData:
    return load_ucm(ucm_root)


def test_counts_match_readme(ucm: UCMData) -> None:
    assert len(ucm.records) == 2100
    assert all(len(record.captions) == 5 for record in ucm.records)
    assert len({c for record in ucm.records for c in record.captions}) == 2019  # distinct sentences
    assert Counter(ucm.splits) == {"train": 1680, "val": 210, "test": 210}
    assert ucm.classnames == READABLE_CLASSES
    assert np.bincount(ucm.targets).tolist() == [100] * 21
    assert ucm.multilabels.classnames == READABLE_LABELS
    assert ucm.multilabels.labels.shape == (2100, 17)
    assert ucm.multilabels.labels.sum(axis=0).tolist() == README_LABEL_COUNTS
    assert ucm.multilabels.labels.sum() / 2100 == pytest.approx(3.33, abs=0.005)


def test_records_follow_caption_json_and_filename_rule(ucm: UCMData, ucm_root: Path) -> None:
    first, last = ucm.records[0], ucm.records[-1]
    assert first.key == "1.tif" and first.image == ucm_root / "Images" / "agricultural" / "agricultural00.jpg"
    assert first.captions[0] == "There is a piece of farmland."
    assert last.key == "2100.tif" and last.image == ucm_root / "Images" / "tenniscourt" / "tenniscourt99.jpg"
    assert ucm.keys == [f"{n}.tif" for n in range(1, 2101)]
    # the class of N.tif is block (N-1)//100, the label also comes from the image's folder
    np.testing.assert_array_equal(ucm.targets, np.arange(2100) // 100)
    assert all(record.label == target for record, target in zip(ucm.records, ucm.targets, strict=True))


def test_multilabels_are_aligned_to_the_caption_images(ucm: UCMData, ucm_root: Path) -> None:
    # independent parse of the annotation file: base name -> 0/1 row
    lines = (ucm_root / "LandUse_Multilabeled.txt").read_text().splitlines()
    rows = {cells[0]: [int(v) for v in cells[1:]] for cells in (line.split("\t") for line in lines[1:])}
    for record, labels in zip(ucm.records, ucm.multilabels.labels, strict=True):
        assert labels.tolist() == rows[Path(record.image).stem]
    assert ucm.multilabels.keys == ucm.keys
    assert ucm.multilabels.splits == ucm.splits
    airplane = READABLE_LABELS.index("airplane")
    # every airplane-class image (101.tif ... 200.tif) carries the airplane label, no other class does
    np.testing.assert_array_equal(np.flatnonzero(ucm.multilabels.labels[:, airplane]), np.arange(100, 200))


def test_split_views(ucm: UCMData) -> None:
    test_rows = ucm.indices("test")
    assert len(test_rows) == 210
    classification = ucm.classification("test")
    assert len(classification.images) == 210 and classification.classnames == READABLE_CLASSES
    assert classification.keys == [ucm.keys[i] for i in test_rows]
    assert classification.targets == ucm.targets[test_rows].tolist()
    multilabel = ucm.multilabel("train")
    assert multilabel.labels.shape == (1680, 17) and set(multilabel.splits) == {"train"}
    captions = ucm.captions(["val", "test"])
    assert len(captions) == 420 and {r.split for r in captions} == {"val", "test"}
    assert len(ucm.captions()) == 2100


def test_filename_rule_reproduces_the_shipped_map(ucm_root: Path) -> None:
    rule = ucm_filename_rule(ucm_root / "Images")
    with open(ucm_root / "filename_map.csv", newline="") as f:
        shipped = {row["caption_filename"]: ucm_root / row["image"] for row in csv.DictReader(f)}
    assert rule == shipped


def test_caption_json_without_map_reports_missing_images(ucm_root: Path) -> None:
    # the shared copy keeps images under Images/<class>/, not beside dataset.json as N.tif
    with pytest.raises(FileNotFoundError) as info:
        read_caption_json(ucm_root / "dataset.json")
    message = str(info.value)
    assert "dataset.json: 2100 image files not found" in message
    assert f"images[0] '1.tif': tried {ucm_root / '1.tif'}" in message


def test_a_folder_that_is_not_ucm_names_what_it_lacks(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_ucm(tmp_path / "absent")
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as info:
        load_ucm(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a UC Merced folder, missing LandUse_Multilabeled.txt, Images/"


def test_class_folder_reader_on_ucm(ucm_root: Path, ucm: UCMData) -> None:
    folders = read_class_folders(ucm_root / "Images")
    assert len(folders.images) == 2100 and folders.classnames == READABLE_CLASSES
    assert folders.keys[0] == "agricultural/agricultural00.jpg"
    assert sorted(folders.images) == sorted(ucm.images)
