"""One image of a scene class: textured ground, the class's painter, the photographic finish, captions.

The annotations are read off the drawing, never assumed: while shapes are painted, a parallel label map
records which object covers each pixel, and an object label is positive when enough of it is visible.
Captions are written from the scene's facts (counts, colours, sides) and any sentence naming an object that
is not visible is dropped, using :data:`CAPTION_VOCABULARY` (the same map the tests check against). Shapes
are drawn with PIL at twice the output size and box-filtered down (cheap anti-aliasing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .canvas import _SUPERSAMPLE, _Canvas, _Draws, _finish, _jit, _texture
from .captions import Facts, _write_captions
from .objects import _ASPHALT, _DRY_GRASS, _GRASS, _PAVEMENT, _SAND, _SOIL, _WATERS, _pick
from .scenes_built import (
    _scene_airport,
    _scene_freeway,
    _scene_harbor,
    _scene_parking_lot,
    _scene_residential,
    _scene_storage_tanks,
    _scene_tennis_courts,
)
from .scenes_landcover import _scene_beach, _scene_farmland, _scene_forest, _scene_river

# Blotchiness of each ground material's texture: grass is patchy, paved and sandy ground is even.
_GROUND_CONTRAST = {
    "grass": 0.1,
    "tree": 0.1,
    "bare soil": 0.08,
    "water": 0.05,
    "pavement": 0.05,
    "sand": 0.05,
}

# scene -> (ground colour and label, scene function)
_SCENES: dict[str, tuple[Callable[[_Draws], tuple[Sequence[int], str]], Callable[[_Canvas, _Draws], Facts]]] = {
    "residential": (lambda r: (_GRASS, "grass"), _scene_residential),
    "forest": (lambda r: ((44, 70, 38), "tree"), _scene_forest),
    "harbor": (lambda r: (_pick(r, _WATERS)[1], "water"), _scene_harbor),
    "airport": (lambda r: (_DRY_GRASS if r.random() < 0.6 else _GRASS, "grass"), _scene_airport),
    "storage tanks": (
        lambda r: (_SOIL, "bare soil") if r.random() < 0.55 else (_PAVEMENT, "pavement"),
        _scene_storage_tanks,
    ),
    "farmland": (lambda r: ((150, 128, 96), "bare soil"), _scene_farmland),
    "river": (lambda r: (_GRASS if r.random() < 0.6 else _DRY_GRASS, "grass"), _scene_river),
    "parking lot": (lambda r: (_ASPHALT if r.random() < 0.6 else _PAVEMENT, "pavement"), _scene_parking_lot),
    "tennis courts": (lambda r: (_GRASS, "grass"), _scene_tennis_courts),
    "beach": (lambda r: (_SAND, "sand"), _scene_beach),
    "freeway": (lambda r: (_GRASS if r.random() < 0.7 else _DRY_GRASS, "grass"), _scene_freeway),
}


def _render(scene: str, rng: _Draws, image_size: int) -> tuple[np.ndarray, list[str], tuple[str, ...]]:
    ground_fn, draw_fn = _SCENES[scene]
    ground, ground_label = ground_fn(rng)
    ground = _jit(rng, ground, 12)
    size = image_size * _SUPERSAMPLE
    background = _texture(rng, size, ground, contrast=_GROUND_CONTRAST[ground_label], cells=int(rng.integers(5, 12)))
    cv = _Canvas(size, background, ground, ground_label, sun_angle=rng.uniform(0.4, 1.2))
    facts = draw_fn(cv, rng)
    present = cv.visible_labels()
    image = _finish(cv.image.reduce(_SUPERSAMPLE), rng)
    captions = _write_captions(scene, facts, set(present), rng)
    return image, present, captions
