"""The palette and the objects several scenes share: trees, cars, houses, boats, airplanes and tanks."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .canvas import _Canvas, _Draws, _place, _rect, _shade

# Colours (RGB) with the words captions use for them.
_GRASS = (92, 122, 62)
_DRY_GRASS = (128, 132, 84)
_SOIL = (146, 118, 88)
_SAND = (214, 198, 158)
_PAVEMENT = (150, 149, 145)
_ASPHALT = (98, 98, 100)
_WHITE = (232, 232, 228)
_TREE = (54, 86, 44)
_ROOFS = [
    ("red", (158, 72, 56)),
    ("brown", (122, 92, 72)),
    ("grey", (128, 128, 132)),
    ("dark grey", (82, 82, 88)),
    ("white", (206, 206, 200)),
    ("orange", (192, 112, 70)),
]
_CARS = [
    ("white", (228, 228, 225)),
    ("black", (34, 34, 40)),
    ("silver", (172, 174, 178)),
    ("red", (172, 40, 36)),
    ("blue", (44, 70, 140)),
    ("grey", (112, 112, 116)),
]
_WATERS = [
    ("dark blue", (36, 66, 98)),
    ("blue", (46, 86, 122)),
    ("dark green", (44, 78, 80)),
    ("green", (56, 96, 92)),
]
_BOATS = [
    ("white", (236, 236, 234)),
    ("blue", (56, 92, 160)),
    ("red", (170, 52, 44)),
    ("yellow", (214, 188, 70)),
]
_COURTS = [
    ("green", (62, 128, 84), (46, 100, 66)),
    ("blue", (52, 92, 150), (62, 120, 80)),
    ("red", (176, 86, 60), (176, 86, 60)),
    ("blue", (48, 84, 140), (50, 120, 110)),
]
_TANKS = [("white", (226, 226, 222)), ("light grey", (190, 190, 188)), ("white", (236, 234, 226))]


def _pick(rng: _Draws, options: Sequence):  # noqa: ANN202 - generic helper
    return options[int(rng.integers(len(options)))]


def _trees(
    cv: _Canvas,
    rng: _Draws,
    xs: np.ndarray,
    ys: np.ndarray,
    rs: np.ndarray,
    base: Sequence[int] | np.ndarray = _TREE,
    spread: int = 12,
) -> int:
    """Round crowns with a shadow and a sunlit highlight; returns how many have their centre in frame.

    ``base`` is one colour or one per tree, (n, 3)."""
    n = len(xs)
    if n == 0:
        return 0
    base = np.asarray(base).reshape(-1, 3)
    cols = np.clip(base + rng.integers(-spread, spread + 1, size=(n, 1)) + rng.integers(-5, 6, size=(n, 3)), 0, 255)
    sx, sy = cv.toward_sun()
    visible = 0
    for x, y, r, col in zip(xs.tolist(), ys.tolist(), rs.tolist(), cols.tolist(), strict=True):
        if not cv.inside(x, y, -r - 3):
            continue
        visible += cv.inside(x, y, 1.0)
        cv.circle(x, y, r, col, "tree", shadow=r * 0.55)
        cv.circle(x + sx * r * 0.28, y + sy * r * 0.28, r * 0.55, _shade(col, 20))
    return visible


def _car(
    cv: _Canvas,
    x: float,
    y: float,
    angle: float,
    color: Sequence[int],
    length: float = 7.0,
    width: float = 3.4,
) -> None:
    cv.polygon(_rect(x, y, length, width, angle), color, "car", shadow=0.7)
    c, s = math.cos(angle), math.sin(angle)
    glass = (38, 44, 54)
    cv.polygon(_rect(x + c * length * 0.17, y + s * length * 0.17, length * 0.18, width * 0.8, angle), glass)


def _house(cv: _Canvas, x: float, y: float, length: float, depth: float, angle: float, roof: Sequence[int]) -> None:
    """A gable roof seen from above: two halves of different shade."""
    cv.polygon(_rect(x, y, length, depth, angle), roof, "building", shadow=2.0)
    nx, ny = -math.sin(angle), math.cos(angle)
    q = depth / 4
    cv.polygon(_rect(x + nx * q, y + ny * q, length, depth / 2, angle), _shade(roof, -26))


def _boat(cv: _Canvas, x: float, y: float, angle: float, length: float, width: float, color: Sequence[int]) -> None:
    h, w = length / 2, width / 2
    hull = [(-h, -w), (h * 0.45, -w), (h, 0.0), (h * 0.45, w), (-h, w)]
    cv.polygon(_place(hull, x, y, angle), color, "boat", shadow=0.8)
    c, s = math.cos(angle), math.sin(angle)
    cabin = _shade(color, -40) if sum(color) > 600 else (228, 228, 226)
    cv.polygon(_rect(x - c * h * 0.15, y - s * h * 0.15, length * 0.34, width * 0.55, angle), cabin)


def _airplane(cv: _Canvas, x: float, y: float, angle: float, length: float, color: Sequence[int]) -> None:
    L, S = length, length * 0.95
    w = L * 0.06
    body = [(-L / 2, -w), (L * 0.36, -w), (L / 2, 0.0), (L * 0.36, w), (-L / 2, w)]
    wings = [
        (L * 0.1, 0.0),
        (-L * 0.12, -S / 2),
        (-L * 0.21, -S / 2),
        (-L * 0.08, 0.0),
        (-L * 0.21, S / 2),
        (-L * 0.12, S / 2),
    ]
    tail = [
        (-L * 0.36, 0.0),
        (-L * 0.46, -S * 0.17),
        (-L * 0.5, -S * 0.17),
        (-L * 0.46, 0.0),
        (-L * 0.5, S * 0.17),
        (-L * 0.46, S * 0.17),
    ]
    for part in (wings, tail, body):
        cv.polygon(_place(part, x, y, angle), color, "airplane", shadow=1.6)
    engine = _shade(color, -60)
    for side in (-1, 1):
        ex, ey = _place([(-L * 0.02, side * S * 0.2)], x, y, angle)[0]
        cv.polygon(_rect(ex, ey, L * 0.1, w * 1.2, angle), engine)


def _tank(cv: _Canvas, x: float, y: float, r: float, body: Sequence[int]) -> None:
    sx, sy = cv.toward_sun()
    cv.circle(x, y, r, body, "tank", shadow=r * 0.35)
    cv.circle(x, y, r * 0.86, _shade(body, -34))
    cv.circle(x + sx * r * 0.07, y + sy * r * 0.07, r * 0.8, _shade(body, -8))
    cv.circle(x, y, r * 0.1, _shade(body, -70))
