"""torch Dataset views: images, reproducible caption sampling, flattened caption lists."""

from __future__ import annotations

import copy
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ssclip.data.datasets import CaptionList, ImageDataset, PairedCaptionDataset, caption_choice
from ssclip.data.types import ImageCaptions


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


@pytest.fixture
def records(tmp_path: Path) -> list[ImageCaptions]:
    out = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (3, 2), (i * 10, 0, 255 - i)).save(path)  # PNG: exact colours come back
        captions = tuple(f"image {i} caption {j}" for j in range(5 if i != 2 else 1))
        out.append(ImageCaptions(image=path, captions=captions, split="train", key=f"{i}.png"))
    return out


def test_image_dataset_returns_transformed_image_and_index(records: list[ImageCaptions]) -> None:
    in_memory = Image.new("L", (3, 2), 7)  # grey: converted to RGB
    dataset = ImageDataset([r.image for r in records] + [in_memory], to_tensor)
    assert len(dataset) == 7
    tensor, index = dataset[4]
    assert index == 4 and tensor.shape == (3, 2, 3)
    assert tensor[:, 0, 0].tolist() == [40, 0, 251]
    assert dataset[6][0][:, 1, 2].tolist() == [7, 7, 7]
    assert isinstance(ImageDataset([in_memory], None)[0][0], Image.Image)


def test_paired_dataset_item(records: list[ImageCaptions]) -> None:
    dataset = PairedCaptionDataset(records, to_tensor, seed=0)
    item = dataset[3]
    assert set(item) == {"image", "caption", "index", "caption_index"}
    assert item["index"] == 3
    assert item["caption"] == records[3].captions[item["caption_index"]]
    assert item["image"][:, 0, 0].tolist() == [30, 0, 252]
    assert dataset[2]["caption_index"] == 0  # a single caption is always chosen


def test_caption_choice_is_a_function_of_seed_epoch_index(records: list[ImageCaptions]) -> None:
    dataset = PairedCaptionDataset(records, to_tensor, seed=5)
    dataset.set_epoch(3)
    choices = [dataset[i]["caption_index"] for i in range(6)]
    assert choices == [caption_choice(5, 3, i, len(records[i].captions)) for i in range(6)]
    # a resumed run (fresh object, same seed, same epoch) samples identically, in any access order
    resumed = PairedCaptionDataset(records, to_tensor, seed=5)
    resumed.set_epoch(3)
    assert [resumed[i]["caption_index"] for i in reversed(range(6))] == choices[::-1]
    assert dataset.caption_index(4, epoch=3) == choices[4]
    # pinned: the same captions on every platform
    assert [caption_choice(0, 0, i, 5) for i in range(10)] == [4, 4, 1, 3, 1, 4, 2, 4, 2, 3]


def test_caption_choice_varies_across_epochs_and_seeds_and_covers_all_captions() -> None:
    over_epochs = [caption_choice(0, epoch, 7, 5) for epoch in range(200)]
    counts = Counter(over_epochs)
    assert set(counts) == {0, 1, 2, 3, 4}
    assert all(20 <= c <= 60 for c in counts.values())  # roughly uniform (expected 40 each)
    over_seeds = [caption_choice(seed, 0, 7, 5) for seed in range(20)]
    assert len(set(over_seeds)) > 1


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_workers(records: list[ImageCaptions], start_method: str) -> None:
    dataset = PairedCaptionDataset(records, to_tensor, seed=1)
    loader = DataLoader(
        dataset, batch_size=3, num_workers=1, persistent_workers=True, multiprocessing_context=start_method
    )
    seen = {}
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        batches = list(loader)
        seen[epoch] = torch.cat([b["caption_index"] for b in batches]).tolist()
        assert seen[epoch] == [dataset.caption_index(i, epoch=epoch) for i in range(6)]
        assert batches[0]["caption"][1] == records[1].captions[seen[epoch][1]]
        assert batches[0]["image"].shape == (3, 3, 2, 3)
    assert len({tuple(v) for v in seen.values()}) > 1


def test_paired_dataset_pickles_and_copies_with_its_epoch(records: list[ImageCaptions]) -> None:
    dataset = PairedCaptionDataset(records, None, seed=2)
    dataset.set_epoch(4)
    for clone in (pickle.loads(pickle.dumps(dataset)), copy.deepcopy(dataset)):
        assert clone.epoch == 4 and clone.seed == 2
        clone.set_epoch(9)
        assert dataset.epoch == 4  # a copy is independent of the original


def test_paired_dataset_rejects_records_without_captions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"record 1 \(b\) has no captions"):
        PairedCaptionDataset(
            [
                ImageCaptions(image=tmp_path / "a.jpg", captions=("x",)),
                ImageCaptions(image=tmp_path, captions=(), key="b"),
            ],
            None,
        )


def test_caption_list_flattens_records(records: list[ImageCaptions]) -> None:
    subset = [records[1], records[2], records[0]]
    captions = CaptionList(subset)
    assert len(captions) == 11
    assert captions.texts[:6] == [*records[1].captions, records[2].captions[0]]
    assert captions.text_to_image.dtype == torch.long
    assert captions.text_to_image.tolist() == [0] * 5 + [1] + [2] * 5
    assert captions.offsets == [0, 5, 6, 11]
    assert captions.image_to_texts[1] == [5]
    assert captions[6] == ("image 0 caption 0", 2)
    assert captions.images == [r.image for r in subset]
    empty = CaptionList([])
    assert len(empty) == 0 and empty.text_to_image.shape == (0,)
