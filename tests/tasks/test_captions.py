"""The caption task's keyword vocabulary: mined, the class names, or a file; an empty one is named early."""

from __future__ import annotations

import pytest
from PIL import Image

from ssclip.data.types import ImageCaptions
from ssclip.tasks.captions import choose_keywords


def _records(captions: list[str]) -> list[ImageCaptions]:
    return [ImageCaptions(image=Image.new("RGB", (4, 4)), captions=(c,)) for c in captions]


def test_keywords_come_from_the_captions_the_class_names_or_a_file(tmp_path):
    recurring = _records(
        [f"a parking lot with {n} cars." for n in ("many", "some", "few")] + [f"{n} green trees." for n in range(2, 6)]
    )
    assert "parking lot" in choose_keywords("mined", recurring, [])
    assert choose_keywords("classnames", recurring, ["beach", "forest"]) == ["beach", "forest"]
    (tmp_path / "words.txt").write_text("river\nbridge\n")
    assert choose_keywords(str(tmp_path / "words.txt"), recurring, []) == ["river", "bridge"]


def test_too_few_captions_to_mine_say_what_to_do_instead():
    distinct = _records(["a beach.", "a dense forest.", "two tennis courts."])
    with pytest.raises(ValueError, match=r"3 paired images yield no keyword.*keywords=classnames"):
        choose_keywords("mined", distinct, ["beach"])
    with pytest.raises(ValueError, match="'mined', 'classnames' or a keyword file"):
        choose_keywords("nowhere.txt", distinct, [])
