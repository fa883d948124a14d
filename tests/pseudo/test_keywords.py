"""Keyword mining, keyword files, presence matching, partial-label targets and loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ssclip.pseudo.keywords import (
    DEFAULT_STOP_WORDS,
    keyword_presence,
    keyword_targets,
    load_keyword_file,
    mine_keywords,
    normalize_text,
    partial_label_loss,
)


def test_normalize_text() -> None:
    assert normalize_text("  A Tennis-Court,  next to   the ROAD. ") == "a tennis court next to the road"
    assert normalize_text("plane's wing / 2 tanks_x") == "planes wing 2 tanks x"
    assert normalize_text("!!!") == ""


def test_stop_words_contain_caption_filler() -> None:
    for word in ("there", "many", "some", "image", "picture", "located", "lots", "the", "of"):
        assert word in DEFAULT_STOP_WORDS


def test_mine_keywords_counts_images_filters_and_orders() -> None:
    captions = [
        ["There are many boats in the harbor.", "Lots of boats near a pier"],  # boats counted once here
        ["Some boats and a storage tank", "a picture of the harbor"],
        ["two storage tanks beside a road", "boats"],
        ["storage tanks next to a road", "a road"],
        ["a road with trees", "road"],
        ["a road", "trees"],
        ["a road", "a pier"],
        ["a road", "grass"],
    ]
    keywords = mine_keywords(captions, min_images=2, max_image_fraction=0.5)
    # "road" is in 6/8 images (> 50 %): too generic. "pier", "trees", "harbor" in 2 images each.
    # "storage" only ever appears inside "storage tank(s)" (3 images): the phrase replaces it, and
    # "tank"/"tanks" collapse with it (plural variants).
    assert keywords == ["boats", "storage tanks", "harbor", "pier", "trees"]
    assert all(w not in keywords for w in ("there", "many", "lots", "picture", "road", "storage", "tanks"))
    assert mine_keywords(captions, min_images=2, max_image_fraction=0.5, max_keywords=2) == keywords[:2]
    # min_images: nothing occurs in 4 images except the too-frequent "road"
    assert mine_keywords(captions, min_images=4, max_image_fraction=1.0) == ["road"]


def test_mine_keywords_keeps_part_used_on_its_own() -> None:
    captions = [["storage tanks"]] * 3 + [["tanks"]] * 3 + [["grass"]] * 4
    keywords = mine_keywords(captions, min_images=2, max_image_fraction=1.0)
    # "tanks" in 6 images, the phrase in only 3: both kept; "storage" (3 images, all in the phrase) dropped.
    assert keywords == ["tanks", "grass", "storage tanks"]


def test_mine_keywords_phrases_never_start_or_end_with_stop_words() -> None:
    captions = [["many cars in the parking lot", "lots of cars"]] * 4 + [["a meadow"]] * 5
    keywords = mine_keywords(captions, min_images=2, max_image_fraction=0.5)
    assert keywords == ["cars", "parking lot"]  # "many cars", "lots of", "the parking", "lot" rejected


def test_mine_keywords_is_deterministic_on_real_captions(ucm_root: Path) -> None:
    data = json.loads((ucm_root / "dataset.json").read_text())
    captions = [[s["raw"] for s in image["sentences"]] for image in data["images"][::10]]
    first = mine_keywords(captions)
    assert first == mine_keywords(list(reversed(captions)))  # order of images does not matter
    assert 20 <= len(first) <= 100
    assert {"straight runway", "tennis courts", "parking lot"} <= set(first)
    assert "runway" not in first  # every image of this sample mentioning a runway says "straight runway"
    counts = keyword_presence([" ".join(c) for c in captions], first).sum(0).tolist()
    assert counts == sorted(counts, reverse=True)  # ranked by the count presence reports


def test_mine_keywords_rejects_flat_caption_list() -> None:
    with pytest.raises(TypeError, match="one list per image"):
        mine_keywords(["a boat", "a car"])


def test_load_keyword_file(tmp_path: Path) -> None:
    path = tmp_path / "kw.txt"
    path.write_text("# remote sensing\nbaseball field\n\n  storage tanks  # plural\npouch\nPouch\nviaduct\n")
    with pytest.warns(UserWarning, match=r"kw.txt:6: duplicate keyword 'Pouch' \(already on line 5\)"):
        keywords = load_keyword_file(path)
    assert keywords == ["baseball field", "storage tanks", "pouch", "viaduct"]


def test_load_keyword_file_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="empty.txt: no keywords"):
        load_keyword_file(empty)
    bad = tmp_path / "bad.txt"
    bad.write_text("boat\n---\n")
    with pytest.raises(ValueError, match="bad.txt:2: keyword '---'"):
        load_keyword_file(bad)


def test_keyword_presence_whole_words_and_plurals() -> None:
    captions = [
        "Many Boats docked.",
        "a storage-tank near two buses",
        "a cartoon of a car",
        "storage near a tank",
        "",
    ]
    keywords = ["boat", "storage tanks", "tank", "bus", "car", "cart", "boats docked"]
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 1],
            [0, 1, 1, 1, 0, 0, 0],
            [0, 0, 0, 0, 1, 0, 0],  # "cartoon" is neither "car" nor "cart"
            [0, 0, 1, 0, 0, 0, 0],  # the phrase needs consecutive words
            [0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=torch.bool,
    )
    presence = keyword_presence(captions, keywords)
    assert presence.dtype == torch.bool
    assert torch.equal(presence, expected)
    assert keyword_presence(captions, []).shape == (5, 0)


def test_keyword_targets_softmax_uniform_linear() -> None:
    presence = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
    assignment = torch.tensor([0, 1, 2, 0])
    logits = torch.tensor(
        [[2.0, 0.0, 5.0, 1.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.3, 9.0], [30.0, 20.0, 10.0, 0.0]],
        requires_grad=True,
    )
    soft = keyword_targets(assignment, presence, logits, weighting="softmax")
    e = torch.exp(torch.tensor(2.0))
    e10 = torch.exp(torch.tensor(10.0))
    expected = torch.tensor(
        [[e / (e + 1), 1 / (e + 1), 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [e10 / (e10 + 1), 1 / (e10 + 1), 0, 0]]
    )
    torch.testing.assert_close(soft, expected)
    assert not soft.requires_grad  # the target is detached

    uniform = keyword_targets(assignment, presence, logits, weighting="uniform")
    expected_uniform = torch.tensor([[0.5, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0.5, 0.5, 0, 0]])
    torch.testing.assert_close(uniform, expected_uniform)

    linear = keyword_targets(assignment, presence, logits, weighting="linear")
    # row 0: candidate logits 2 and 0 -> 2/2 and 0/2; row 3: 30/50 and 20/50
    expected_linear = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0.6, 0.4, 0, 0]])
    torch.testing.assert_close(linear, expected_linear)


def test_linear_weighting_is_nearly_uniform_for_clip_like_logits() -> None:
    presence = torch.ones(1, 4, dtype=torch.bool)
    logits = 100 * torch.tensor([[0.31, 0.27, 0.25, 0.29]])  # typical CLIP cosines, scale 100
    linear = keyword_targets(torch.tensor([0]), presence, logits, weighting="linear")
    assert (linear - 0.25).abs().max() < 0.04
    soft = keyword_targets(torch.tensor([0]), presence, logits, weighting="softmax")
    assert soft.max() > 0.7  # the softmax sharpens towards the best candidate


def test_keyword_targets_match_a_python_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    presence = torch.rand(12, 9, generator=gen) < 0.3
    assignment = torch.randint(0, 12, (20,), generator=gen)
    logits = torch.randn(20, 9, generator=gen) * 3
    targets = keyword_targets(assignment, presence, logits, weighting="softmax")
    for j in range(20):
        cand = presence[assignment[j]].nonzero().flatten()
        row = torch.zeros(9)
        if len(cand):
            row[cand] = torch.softmax(logits[j, cand], 0)
        torch.testing.assert_close(targets[j], row)


def test_partial_label_loss_skip_and_count() -> None:
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.5, 0.5], [3.0, 0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    log_p = torch.log_softmax(logits.detach(), -1)
    row0 = -(0.25 * log_p[0, 0] + 0.75 * log_p[0, 1])
    row2 = -log_p[2, 0]
    skip = partial_label_loss(logits, targets, empty_rows="skip")
    torch.testing.assert_close(skip, (row0 + row2) / 2)
    torch.testing.assert_close(partial_label_loss(logits, targets, empty_rows="count"), (row0 + row2) / 3)
    skip.backward()
    assert logits.grad is not None and logits.grad[1].abs().sum() == 0

    nothing = partial_label_loss(logits, torch.zeros(3, 3), empty_rows="skip")
    assert nothing.item() == 0.0 and nothing.requires_grad
    with pytest.raises(ValueError, match="empty_rows"):
        partial_label_loss(logits, targets, empty_rows="drop")  # type: ignore[arg-type]


def test_keyword_targets_bad_shapes() -> None:
    with pytest.raises(ValueError, match="keyword_logits has shape"):
        keyword_targets(torch.tensor([0, 1]), torch.zeros(3, 4, dtype=torch.bool), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="weighting"):
        keyword_targets(torch.tensor([0]), torch.ones(1, 2, dtype=torch.bool), torch.zeros(1, 2), weighting="max")  # type: ignore[arg-type]
