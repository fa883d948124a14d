"""torch ``Dataset`` views of the records, for the trainer and the evaluators.

Datasets return images and raw caption strings; tokenization stays in the collate function / trainer, so the
same dataset serves any text tower.

``PairedCaptionDataset`` picks one caption per access as a pure function of (seed, epoch, index): a resumed
run, any number of workers and any sampler order all see the same captions. The epoch lives in shared memory
so that persistent data-loader workers see ``set_epoch`` calls made in the main process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.context import get_spawning_popen
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .types import ImageCaptions, ImageRef, load_image

__all__ = ["CaptionList", "ImageDataset", "PairedCaptionDataset", "SharedEpoch", "caption_choice"]

Transform = Callable[[Image.Image], Any]


class ImageDataset(Dataset):
    """Images only (unpaired images, evaluation): item ``i`` is ``(transform(image_i), i)``.

    With ``transform=None`` the RGB PIL image is returned (handy for inspection, not for default collation).
    """

    def __init__(self, images: Sequence[ImageRef], transform: Transform | None) -> None:
        self.images = list(images)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = load_image(self.images[index])
        return (self.transform(image) if self.transform is not None else image), index


class SharedEpoch:
    """An epoch counter shared with data-loader worker processes (fork or spawn).

    Plain pickling or deep-copying (outside process start-up) stores the current value instead of the shared
    memory, so datasets holding one stay picklable.
    """

    def __init__(self, epoch: int = 0) -> None:
        self._value = multiprocessing.Value("q", epoch, lock=False)

    def get(self) -> int:
        return int(self._value.value)

    def set(self, epoch: int) -> None:
        self._value.value = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        if get_spawning_popen() is not None:  # handing the dataset to a new worker process: share the memory
            return {"shared": self._value}
        return {"epoch": self.get()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "shared" in state:
            self._value = state["shared"]
        else:
            self._value = multiprocessing.Value("q", state["epoch"], lock=False)


def caption_choice(seed: int, epoch: int, index: int, n_captions: int) -> int:
    """Which of its ``n_captions`` captions image ``index`` shows in ``epoch`` (pure: no hidden state)."""
    if n_captions == 1:
        return 0
    rng = np.random.Generator(np.random.PCG64([seed, epoch, index]))
    return int(rng.integers(n_captions))


class PairedCaptionDataset(Dataset):
    """Image-caption pairs: item ``i`` is image ``i`` with one of its captions, chosen by (seed, epoch, i).

    Returns ``dict(image=transform(image), caption=str, index=i, caption_index=j)``. Call :meth:`set_epoch`
    at the start of each epoch (before iterating the loader) to draw new captions.
    """

    def __init__(self, records: Sequence[ImageCaptions], transform: Transform | None, seed: int = 0) -> None:
        self.records = list(records)
        for i, record in enumerate(self.records):
            if not record.captions:
                raise ValueError(f"record {i} ({record.key or record.image}) has no captions")
        self.transform = transform
        self.seed = int(seed)
        self._epoch = SharedEpoch(0)

    @property
    def epoch(self) -> int:
        return self._epoch.get()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.set(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def caption_index(self, index: int, epoch: int | None = None) -> int:
        """The caption chosen for ``index`` in ``epoch`` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else epoch
        return caption_choice(self.seed, epoch, index, len(self.records[index].captions))

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        j = self.caption_index(index)
        image = load_image(record.image)
        return {
            "image": self.transform(image) if self.transform is not None else image,
            "caption": record.captions[j],
            "index": index,
            "caption_index": j,
        }


class CaptionList:
    """All captions of ``records`` in one flat list, for retrieval evaluation.

    ``texts[t]`` belongs to image ``text_to_image[t]`` (the record's position); record ``i``'s captions
    are ``texts[offsets[i]:offsets[i + 1]]``. Item ``t`` is ``(texts[t], text_to_image[t])``.
    """

    def __init__(self, records: Sequence[ImageCaptions]) -> None:
        self.texts: list[str] = [caption for record in records for caption in record.captions]
        counts = [len(record.captions) for record in records]
        self.text_to_image: torch.Tensor = torch.repeat_interleave(
            torch.arange(len(counts), dtype=torch.long), torch.tensor(counts, dtype=torch.long)
        )
        self.offsets: list[int] = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()
        self.images: list[ImageRef] = [record.image for record in records]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, int]:
        return self.texts[index], int(self.text_to_image[index])

    @property
    def image_to_texts(self) -> list[list[int]]:
        """For each image, the indices of its captions in ``texts``."""
        return [list(range(self.offsets[i], self.offsets[i + 1])) for i in range(len(self.images))]
