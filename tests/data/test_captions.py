"""Readers of the caption formats users download (Karpathy JSON, open_clip CSV/TSV), on small hand-made files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssclip.data.captions import normalize_caption, read_caption_csv, read_caption_json

from .helpers import write_image, write_json


def karpathy_entry(filename: str, split: str, *raws: str) -> dict:
    return {
        "filename": filename,
        "imgid": 0,
        "split": split,
        "sentences": [{"raw": raw, "tokens": raw.split()} for raw in raws],
    }


# ----------------------------------------------------------------------------------------------------------
# Karpathy caption JSON


@pytest.fixture
def ucm_captions_release(tmp_path: Path) -> Path:
    """UCM-captions as shipped: dataset.json beside an imgs/ folder of N.tif."""
    for n in (1, 2, 3):
        write_image(tmp_path / "imgs" / f"{n}.tif")
    entries = [
        karpathy_entry("1.tif", "train", "There is a piece of farmland .", "  Many   green trees ,here . "),
        karpathy_entry("2.tif", "val", "A plane ."),
        karpathy_entry("3.tif", "test", "A beach .", "Sea and sand ."),
    ]
    return write_json(tmp_path / "dataset.json", {"images": entries, "dataset": "UCM"})


def test_normalize_caption_drops_spacing_artefacts() -> None:
    assert normalize_caption("There is a piece of farmland .") == "There is a piece of farmland."
    assert normalize_caption("  a\tb   c , d ! ") == "a b c, d!"


def test_read_caption_json_reads_records_in_order(ucm_captions_release: Path) -> None:
    records = read_caption_json(ucm_captions_release)
    root = ucm_captions_release.parent
    assert [r.key for r in records] == ["1.tif", "2.tif", "3.tif"]
    assert [r.split for r in records] == ["train", "val", "test"]
    assert records[0].captions == ("There is a piece of farmland.", "Many green trees,here.")
    assert records[2].captions == ("A beach.", "Sea and sand.")
    assert records[0].image == root / "imgs" / "1.tif"
    assert all(r.label is None for r in records)


def test_read_caption_json_filters_splits(ucm_captions_release: Path) -> None:
    assert [r.key for r in read_caption_json(ucm_captions_release, splits="train")] == ["1.tif"]
    assert [r.key for r in read_caption_json(ucm_captions_release, splits=["val", "test"])] == [
        "2.tif",
        "3.tif",
    ]


def test_read_caption_json_finds_rsicd_images_folder_and_explicit_root(tmp_path: Path) -> None:
    write_image(tmp_path / "rsicd" / "images" / "airport_1.jpg")
    json_path = write_json(
        tmp_path / "rsicd" / "dataset_rsicd.json",
        {"images": [karpathy_entry("airport_1.jpg", "train", "x .")]},
    )
    assert read_caption_json(json_path)[0].image == tmp_path / "rsicd" / "images" / "airport_1.jpg"

    write_image(tmp_path / "elsewhere" / "airport_1.jpg")
    records = read_caption_json(json_path, image_root=tmp_path / "elsewhere")
    assert records[0].image == tmp_path / "elsewhere" / "airport_1.jpg"


def test_read_caption_json_uses_filepath_and_tokens_fallback(tmp_path: Path) -> None:
    write_image(tmp_path / "val2014" / "COCO_1.jpg")
    entry = {
        "filepath": "val2014",
        "filename": "COCO_1.jpg",
        "split": "restval",
        "sentences": [{"tokens": ["a", "cat"]}],
    }
    records = read_caption_json(write_json(tmp_path / "dataset_coco.json", {"images": [entry]}))
    assert records[0].image == tmp_path / "val2014" / "COCO_1.jpg"
    assert records[0].captions == ("a cat",)
    assert records[0].split == "restval"


def test_read_caption_json_with_filename_map_gives_class_labels(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_image(data / "Images" / "beach" / "beach00.jpg")
    write_image(data / "Images" / "airplane" / "airplane00.jpg")
    write_image(data / "Images" / "agricultural" / "agricultural00.jpg")
    map_path = data / "filename_map.csv"
    map_path.write_text(
        "caption_filename,image,class,split\n"
        "1.tif,Images/beach/beach00.jpg,beach,train\n"
        "2.tif,Images/airplane/airplane00.jpg,airplane,val\n"
        "3.tif,Images/agricultural/agricultural00.jpg,agricultural,test\n"
    )
    json_path = write_json(
        tmp_path / "captions" / "dataset.json",
        {"images": [karpathy_entry(f"{n}.tif", "train", "c .") for n in (3, 1, 2)]},
    )
    records = read_caption_json(json_path, filename_map=map_path)
    assert [r.key for r in records] == ["3.tif", "1.tif", "2.tif"]
    # sorted classes: agricultural 0, airplane 1, beach 2
    assert [r.label for r in records] == [0, 2, 1]
    assert records[1].image == data / "Images" / "beach" / "beach00.jpg"

    in_memory = read_caption_json(
        json_path,
        image_root=data,
        filename_map={
            "1.tif": "Images/beach/beach00.jpg",
            "2.tif": "Images/airplane/airplane00.jpg",
            "3.tif": data / "Images/agricultural/agricultural00.jpg",
        },
    )
    assert [r.image for r in in_memory] == [r.image for r in records]
    assert all(r.label is None for r in in_memory)


def test_read_caption_json_filename_not_in_map_is_named(tmp_path: Path) -> None:
    map_path = tmp_path / "map.csv"
    map_path.write_text("caption_filename,image\n1.tif,a.jpg\n")
    json_path = write_json(tmp_path / "d.json", {"images": [karpathy_entry("7.tif", "train", "c")]})
    with pytest.raises(KeyError, match=r"images\[0\].*'7.tif'.*map.csv"):
        read_caption_json(json_path, filename_map=map_path)


def test_read_caption_json_missing_images_are_listed(tmp_path: Path) -> None:
    entries = [karpathy_entry(f"{n}.tif", "train", "c") for n in range(1, 8)]
    write_image(tmp_path / "3.tif")
    json_path = write_json(tmp_path / "dataset.json", {"images": entries})
    with pytest.raises(FileNotFoundError) as info:
        read_caption_json(json_path)
    message = str(info.value)
    assert str(json_path) in message
    assert "6 image files not found" in message
    assert f"images[0] '1.tif': tried {tmp_path / '1.tif'}" in message
    assert str(tmp_path / "imgs" / "1.tif") in message
    assert "images[2]" not in message  # 3.tif exists
    assert "images[5]" in message and "images[6]" not in message  # only the first 5 are listed
    assert "and 1 more" in message


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"annotations": []}, "'images' list"),
        ({"images": [{"split": "train", "sentences": [{"raw": "a"}]}]}, r"images\[0\].*'filename'"),
        ({"images": [{"filename": "1.tif", "sentences": []}]}, r"images\[0\] \(1.tif\).*'sentences'"),
        ({"images": [{"filename": "1.tif", "sentences": [{"raw": "a"}, {"raw": " "}]}]}, r"sentences\[1\]"),
    ],
)
def test_read_caption_json_malformed_entries(tmp_path: Path, data: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        read_caption_json(write_json(tmp_path / "bad.json", data))


def test_read_caption_json_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [\n  {"filename": }\n]}')
    with pytest.raises(ValueError, match=r"broken.json: not valid JSON \(line 2"):
        read_caption_json(path)


# ----------------------------------------------------------------------------------------------------------
# open_clip CSV / TSV


def test_read_caption_csv_groups_captions_per_image(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    write_image(tmp_path / "sub" / "b.jpg")
    path = tmp_path / "train.csv"
    path.write_text('filepath,title\na.jpg,first caption .\nsub/b.jpg,"with, comma"\na.jpg,second  caption\n')
    records = read_caption_csv(path)
    assert [r.key for r in records] == ["a.jpg", "sub/b.jpg"]
    assert records[0].captions == ("first caption.", "second caption")
    assert records[1].captions == ("with, comma",)
    assert records[1].image == tmp_path / "sub" / "b.jpg"
    assert records[0].split is None


def test_read_caption_csv_tsv_by_extension_custom_keys_and_split(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "a.png")
    absolute = write_image(tmp_path / "other" / "b.png")
    path = tmp_path / "pairs.tsv"
    path.write_text(f"img\ttext\tsplit\na.png\ta, b\ttrain\n{absolute}\tc\ttest\n")
    records = read_caption_csv(path, image_key="img", caption_key="text", image_root=tmp_path / "imgs")
    assert [r.image for r in records] == [tmp_path / "imgs" / "a.png", absolute]
    assert [r.captions for r in records] == [("a, b",), ("c",)]
    assert [r.split for r in records] == ["train", "test"]


def test_read_caption_csv_wrong_separator_suggests_the_other(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("filepath\ttitle\na.jpg\tcaption\n")
    with pytest.raises(KeyError) as info:
        read_caption_csv(path)
    message = info.value.args[0]
    assert str(info.value) == message  # printed as written, not as a repr with doubled backslashes
    assert str(path) in message
    assert "['filepath', 'title']" in message  # the missing columns
    assert "separator ','" in message
    assert "columns found: ['filepath\\ttitle']" in message
    assert "pass sep='\\t'" in message

    tsv = tmp_path / "train.tsv"
    tsv.write_text("filepath,title\na.jpg,caption\n")
    with pytest.raises(KeyError, match=r"separator '\\t'.*pass sep=','"):
        read_caption_csv(tsv)


def test_read_caption_csv_missing_column_lists_columns(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("image,caption\na.jpg,c\n")
    with pytest.raises(KeyError, match=r"\['filepath', 'title'\] not found .*columns found: \['image', 'caption'\]"):
        read_caption_csv(path)


def test_read_caption_csv_errors_name_line(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg")
    path = tmp_path / "train.csv"
    path.write_text("filepath,title\na.jpg,ok\na.jpg,\n")
    with pytest.raises(ValueError, match=r"train.csv, line 3: column 'title' is empty"):
        read_caption_csv(path)
    path.write_text("filepath,title\na.jpg,ok\nmissing.jpg,c\n")
    with pytest.raises(FileNotFoundError, match=r"1 image files not found:\n  line 3 'missing.jpg'"):
        read_caption_csv(path)
    path.write_text("filepath,title\na.jpg,one,two\n")
    with pytest.raises(ValueError, match=r"line 2: 3 fields but the header has 2"):
        read_caption_csv(path)
