"""Image collections without annotations: folders (recursive), CSV/TSV lists, single files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from ssclip.data.images import find_images, image_paths, read_image_list


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path)
    return path


def test_folder_is_searched_recursively_in_a_stable_order(tmp_path):
    b = _image(tmp_path / "b.png")
    a = _image(tmp_path / "sub" / "deeper" / "a.JPG")
    _image(tmp_path / ".hidden" / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert find_images(tmp_path) == [b, a]  # "b.png" < "sub/deeper/a.JPG"
    assert image_paths(tmp_path) == [b, a]


def test_csv_and_tsv_lists_resolve_relative_paths_beside_the_table(tmp_path):
    a, b = _image(tmp_path / "x" / "a.png"), _image(tmp_path / "b.png")
    (tmp_path / "list.csv").write_text("filepath,other\nx/a.png,1\nb.png,2\n")
    (tmp_path / "list.tsv").write_text("path\nb.png\n")
    assert read_image_list(tmp_path / "list.csv") == [a, b]
    assert image_paths(tmp_path / "list.tsv", image_key="path") == [b]
    assert image_paths([tmp_path / "list.csv", b]) == [a, b, b]


def test_bad_collections_say_what_was_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        image_paths(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        image_paths(tmp_path / "missing")
    (tmp_path / "m.csv").write_text("image\na.png\n")
    with pytest.raises(KeyError, match="filepath"):  # the missing column is named
        image_paths(tmp_path / "m.csv")
    (tmp_path / "e.csv").write_text("filepath,x\n,1\n")
    with pytest.raises(ValueError, match=r"e.csv, line 2: column 'filepath' is empty"):
        image_paths(tmp_path / "e.csv")


def test_pool_images_that_are_annotated_or_evaluated_are_left_out_with_a_warning(tmp_path, caplog):
    from ssclip.data.images import pool_without, read_pool

    folder = tmp_path / "pool"
    paths = [_image(folder / f"{i}.png") for i in range(4)]
    pool = read_pool(folder)
    with caplog.at_level("WARNING"):
        kept = pool_without(pool, annotated=[str(paths[0])], evaluated=[paths[3]])
    assert kept.keys == ["1.png", "2.png"] and kept.images == paths[1:3]
    assert "1 pool image(s) are also annotated training images (e.g. 0.png)" in caplog.text
    assert "1 pool image(s) are also evaluation images (e.g. 3.png)" in caplog.text
    assert pool_without(pool, annotated=[tmp_path / "elsewhere.png"]) is pool
    with pytest.raises(ValueError, match="every pool image is also an annotated or evaluation image"):
        pool_without(pool, annotated=paths)
