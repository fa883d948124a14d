"""The embedded synthetic aerial set: deterministic top-down scenes with classes, multi-labels and captions.

Every test, example and smoke benchmark needs images that look like aerial photographs, carry the three
kinds of annotation the library learns from (a scene class, object labels, free-text captions) and exist
without a download. :func:`generate_synthetic` draws them from a seed: eleven scene classes built from
shared objects (cars are in residential areas, parking lots and freeways; trees almost everywhere) on noisy
textured ground, with random layout, scale, orientation and colour jitter.

The package, from the bottom up: :mod:`.vocabulary` (class names, object labels, caption words),
:mod:`.canvas` (random draws, textures, the labelled drawing surface), :mod:`.objects` (colours and
the shared objects: trees, cars, houses, boats, airplanes, tanks), :mod:`.captions` (the caption writers),
:mod:`.scenes_built` and :mod:`.scenes_landcover` (the eleven scene painters), :mod:`.scenes` (one image
from a scene class) and :mod:`.api` (the data set record and the public entry points).
"""

from .api import SyntheticAerial, generate_synthetic, make_splits, save_grid, write_synthetic
from .canvas import _Canvas as _Canvas  # re-exported for tests of the label map
from .objects import _car as _car  # re-exported for tests of the label map
from .vocabulary import CAPTION_VOCABULARY, OBJECT_LABELS, SCENE_CLASSES, caption_objects, class_folder

__all__ = [
    "CAPTION_VOCABULARY",
    "OBJECT_LABELS",
    "SCENE_CLASSES",
    "SyntheticAerial",
    "caption_objects",
    "class_folder",
    "generate_synthetic",
    "make_splits",
    "save_grid",
    "write_synthetic",
]
