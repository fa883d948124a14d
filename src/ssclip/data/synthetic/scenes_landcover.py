"""Painters of the land-cover scene classes: forest, farmland, river and beach. Each draws on the canvas
and returns facts for the captions.
"""

from __future__ import annotations

import math

import numpy as np

from .canvas import _HI, _LO, _box, _Canvas, _Draws, _jit, _shade
from .captions import Facts, _direction_words, _side_word
from .objects import _ASPHALT, _ROOFS, _SAND, _WATERS, _WHITE, _boat, _pick, _trees


def _scene_forest(cv: _Canvas, rng: _Draws) -> Facts:
    base = _pick(rng, [(50, 82, 42), (58, 88, 46), (46, 74, 40), (64, 90, 50)])
    path = rng.random() < 0.3
    if path:
        cv.set_rotation(rng.uniform(0, math.pi))
        ys = np.arange(_LO - 4, _HI + 5, 4.0)
        xs = 64 + rng.uniform(8, 20) * np.sin(ys / rng.uniform(30, 50) + rng.uniform(0, 6.3))
        cv.line(
            list(zip(xs.tolist(), ys.tolist(), strict=True)),
            rng.uniform(4.5, 6.5),
            _jit(rng, (170, 140, 104), 10),
            "bare soil",
        )
        cv.set_rotation(0.0)
    n = int(rng.integers(100, 150))
    xs, ys = rng.uniform(-6, 134, n), rng.uniform(-6, 134, n)
    rs = rng.uniform(4.0, 8.0, n)
    autumn = rng.random() < 0.2
    bases = np.tile(np.asarray(base), (n, 1))
    if autumn:  # a few yellowing crowns mixed into the canopy
        bases[rng.random(n) < rng.uniform(0.08, 0.2)] = (128, 112, 52)
    _trees(cv, rng, xs, ys, rs, base=bases, spread=14)
    return {"path": path, "autumn": autumn, "shade": "dark green" if sum(base) < 175 else "green"}


def _scene_farmland(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    crops = [
        ("green", (92, 132, 62)),
        ("light green", (136, 160, 86)),
        ("yellow", (196, 180, 106)),
        ("brown", (142, 112, 80)),
        ("dark green", (70, 104, 52)),
        ("yellow", (184, 170, 110)),
    ]
    seen: set[str] = set()
    x = -44 + rng.uniform(-10, 0)
    parcels = 0
    while x < 172:
        w = rng.uniform(26, 58)
        y = -44 + rng.uniform(-10, 0)
        while y < 172:
            h = rng.uniform(22, 52)
            cx, cy = x + w / 2, y + h / 2
            if cv.inside(cx, cy, -math.hypot(w, h) / 2):
                name, col = _pick(rng, crops)
                col = _jit(rng, col, 10)
                g = 0.8
                cv.polygon(_box(x + g, y + g, x + w - g, y + h - g), col, "field")
                if rng.random() < 0.8:
                    step = rng.uniform(2.2, 3.6)
                    dark = _shade(col, -int(rng.integers(12, 24)))
                    if rng.random() < 0.5:
                        for sy in np.arange(y + g, y + h - g - step / 2, step).tolist():
                            cv.polygon(_box(x + g, sy, x + w - g, sy + step / 2), dark)
                    else:
                        for sx in np.arange(x + g, x + w - g - step / 2, step).tolist():
                            cv.polygon(_box(sx, y + g, sx + step / 2, y + h - g), dark)
                if cv.inside(cx, cy, 10):
                    seen.add(name)
                parcels += cv.inside(cx, cy, 0)
            y += h
        x += w
    road = rng.random() < 0.45
    if road:
        ry = rng.uniform(30, 98)
        cv.polygon(_box(_LO, ry - 1.8, _HI, ry + 1.8), _jit(rng, (184, 164, 128), 10), "road")
    hedge = rng.random() < 0.4
    if hedge:
        hx = rng.uniform(20, 108)
        ys = np.arange(_LO, _HI, rng.uniform(4, 6))
        _trees(cv, rng, hx + rng.uniform(-1, 1, len(ys)), ys, rng.uniform(2.5, 4, len(ys)))
    return {"colors": sorted(seen), "parcels": max(parcels, 1), "road": road, "hedge": hedge}


def _river_band(cv: _Canvas, rng: _Draws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ys = np.arange(_LO - 4, _HI + 5, 4.0)
    amp, period, phase = rng.uniform(8, 24), rng.uniform(70, 160), rng.uniform(0, 2 * math.pi)
    xs = 64 + rng.uniform(-10, 10) + amp * np.sin(2 * math.pi * ys / period + phase)
    half = rng.uniform(6, 13) + 1.8 * np.sin(ys / rng.uniform(15, 30) + rng.uniform(0, 6.3))
    return xs, ys, half


def _band_polygon(xs: np.ndarray, ys: np.ndarray, half: np.ndarray) -> list[tuple[float, float]]:
    left = list(zip((xs - half).tolist(), ys.tolist(), strict=True))
    right = list(zip((xs + half).tolist(), ys.tolist(), strict=True))
    return left + right[::-1]


def _scene_river(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    xs, ys, half = _river_band(cv, rng)
    sandy = rng.random() < 0.5
    if sandy:
        cv.paint(
            _band_polygon(xs, ys, half + rng.uniform(2.5, 5)),
            cv.texture(rng, _jit(rng, _SAND, 12), contrast=0.05),
            "sand",
        )
    water_name, water = _pick(rng, _WATERS)
    cv.paint(_band_polygon(xs, ys, half), cv.texture(rng, _jit(rng, water, 10), contrast=0.06), "water")
    k = int(rng.integers(30, 80))
    idx = rng.integers(0, len(ys), k)
    side = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    off = half[idx] + (5 if sandy else 2.5) + rng.exponential(6, k)
    tx = xs[idx] + side * off
    ty = ys[idx] + rng.uniform(-2, 2, k)
    k2 = int(rng.integers(0, 12))
    tx = np.concatenate([tx, rng.uniform(-20, 148, k2)])
    ty = np.concatenate([ty, rng.uniform(-20, 148, k2)])
    rs = rng.uniform(2.8, 6, len(tx))
    keep = np.abs(tx - np.interp(ty, ys, xs)) > np.interp(ty, ys, half) + rs * 0.6
    n_trees = _trees(cv, rng, tx[keep], ty[keep], rs[keep])
    bridge = rng.random() < 0.2
    if bridge:
        by = rng.uniform(40, 88)
        bx = float(np.interp(by, ys, xs))
        cv.polygon(_box(_LO, by - 3, _HI, by + 3), _jit(rng, _ASPHALT, 10), "road", shadow=1.5)
        cv.line([(bx - 20, by - 3), (bx + 20, by - 3)], 0.5, (200, 200, 196))
        cv.line([(bx - 20, by + 3), (bx + 20, by + 3)], 0.5, (200, 200, 196))
    return {
        "sandy": sandy,
        "trees": n_trees,
        "bridge": bridge,
        "water": water_name,
        "direction": _direction_words(cv.angle + math.pi / 2),
    }


def _scene_beach(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2 + rng.uniform(-0.3, 0.3))
    ys = np.arange(_LO - 4, _HI + 5, 4.0)
    shore = rng.uniform(50, 78) + rng.uniform(3, 10) * np.sin(ys / rng.uniform(14, 40) + rng.uniform(0, 6.3))
    water_name, deep = _pick(rng, _WATERS[:2] + [("turquoise", (52, 110, 126))])
    cv.polygon(_band_polygon((shore - 8 + 200) / 2, ys, (200 - shore + 8) / 2), _shade(_SAND, -34))  # wet sand
    cv.paint(
        _band_polygon((shore + 200) / 2, ys, (200 - shore) / 2),
        cv.texture(rng, _jit(rng, _shade(deep, 30), 8), contrast=0.05),
        "water",
    )
    shallow = rng.uniform(8, 18)
    cv.paint(
        _band_polygon((shore + shallow + 200) / 2, ys, (200 - shore - shallow) / 2),
        cv.texture(rng, _jit(rng, deep, 8), contrast=0.05),
        "water",
    )
    for k in range(int(rng.integers(2, 5))):
        off = 1.5 + k * rng.uniform(3, 6)
        cv.line(
            list(zip((shore + off + rng.uniform(-1, 1)).tolist(), ys.tolist(), strict=True)),
            rng.uniform(0.6, 1.4),
            (240, 240, 236, 170 - 30 * k),
        )
    trees = rng.random() < 0.5
    n_trees = 0
    if trees:
        k = int(rng.integers(10, 40))
        n_trees = _trees(
            cv,
            rng,
            rng.uniform(-30, rng.uniform(10, 24), k),
            rng.uniform(_LO, _HI, k),
            rng.uniform(2.8, 5.5, k),
        )
    buildings = rng.random() < 0.25
    if buildings:
        for y in np.arange(rng.uniform(-30, 0), 160, rng.uniform(22, 32)).tolist():
            if cv.inside(4, y, -10):
                cv.polygon(
                    _box(-20, y, 6 + rng.uniform(0, 10), y + rng.uniform(12, 18)),
                    _jit(rng, _pick(rng, _ROOFS)[1], 10),
                    "building",
                    shadow=2.0,
                )
    umbrellas = rng.random() < 0.4
    if umbrellas:
        k = int(rng.integers(6, 20))
        uy = rng.uniform(-10, 138, k)
        ux = np.interp(uy, ys, shore) - rng.uniform(6, 24, k)
        for x, y in zip(ux.tolist(), uy.tolist(), strict=True):
            cv.circle(
                x,
                y,
                rng.uniform(1.4, 2.2),
                _pick(rng, [(220, 60, 50), (240, 200, 60), (60, 110, 200), (240, 240, 240)]),
                shadow=0.8,
            )
    boats = 0
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            by = rng.uniform(12, 116)
            bx = float(np.interp(by, ys, shore)) + rng.uniform(20, 50)
            if cv.inside(bx, by, 8):
                _boat(cv, bx, by, rng.uniform(0, 2 * math.pi), rng.uniform(8, 12), 3.8, _WHITE)
                boats += 1
    u, v = cv.frame_point(100, 64)
    return {
        "sea_side": _side_word(u, v),
        "trees": n_trees,
        "buildings": buildings,
        "umbrellas": umbrellas,
        "boats": boats,
        "water": water_name,
    }
