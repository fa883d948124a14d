"""Painters of the built-up scene classes: residential, harbor, airport, storage tanks, parking lot,
tennis courts and freeway. Each draws on the canvas and returns facts for the captions.
"""

from __future__ import annotations

import math

import numpy as np

from .canvas import _HI, _LO, _U, _box, _Canvas, _Draws, _jit, _rect, _shade
from .captions import Facts, _direction_words, _region_word, _side_word
from .objects import (
    _ASPHALT,
    _BOATS,
    _CARS,
    _COURTS,
    _GRASS,
    _PAVEMENT,
    _ROOFS,
    _TANKS,
    _WHITE,
    _airplane,
    _boat,
    _car,
    _house,
    _pick,
    _tank,
    _trees,
)


def _scene_residential(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    sparse = rng.random() < 0.35
    spacing = rng.uniform(52, 62) if sparse else rng.uniform(42, 50)
    road_w = rng.uniform(6.0, 8.0)
    road_col = _jit(rng, (112, 110, 106), 10)
    ys = np.arange(_LO - 6 + rng.uniform(0, spacing), _HI + 6, spacing).tolist()
    cross_x = rng.uniform(24, 104) if rng.random() < 0.55 else None
    for y in ys:
        cv.polygon(_box(_LO, y - road_w / 2, _HI, y + road_w / 2), road_col, "road")
    if cross_x is not None:
        cv.polygon(_box(cross_x - road_w / 2, _LO, cross_x + road_w / 2, _HI), road_col, "road")
    roof_name, roof_rgb = _pick(rng, _ROOFS)
    mixed = rng.random() < 0.4
    length = rng.uniform(13, 16) if sparse else rng.uniform(10, 13)
    depth = length * rng.uniform(0.68, 0.82)
    pitch = length + (rng.uniform(9, 15) if sparse else rng.uniform(2.5, 5))
    setback = rng.uniform(2.5, 5.5)
    drive_col = _jit(rng, (178, 174, 166), 8)
    houses, drives, cars, tree_pts = [], [], [], []
    for y in ys:
        for side in (-1, 1):
            yc = y + side * (road_w / 2 + setback + depth / 2)
            x = _LO - 6 + rng.uniform(0, pitch)
            while x < _HI:
                here, x = x, x + pitch * rng.uniform(0.96, 1.08)
                if not cv.inside(here, yc, -14):
                    continue
                if cross_x is not None and abs(here - cross_x) < road_w / 2 + length / 2 + 1.5:
                    continue
                if rng.random() < 0.08:
                    continue
                roof = _pick(rng, _ROOFS)[1] if mixed and rng.random() < 0.5 else roof_rgb
                houses.append((here + rng.uniform(-1, 1), yc + rng.uniform(-0.7, 0.7), _jit(rng, roof, 10)))
                if rng.random() < 0.5:
                    dx = here + length * 0.32 * (1 if rng.random() < 0.5 else -1)
                    y0, y1 = sorted((y + side * road_w / 2, yc - side * depth / 2))
                    drives.append(_box(dx - 1.7, y0, dx + 1.7, y1))
                    if rng.random() < 0.3:
                        cars.append((dx, (y0 + y1) / 2, math.pi / 2, _pick(rng, _CARS)[1]))
                for _ in range(int(rng.integers(0, 3 if sparse else 2) + 1)):
                    if rng.random() < 0.65:
                        tree_pts.append(
                            (
                                here + rng.uniform(-length / 2, length / 2),
                                yc + side * (depth / 2 + rng.uniform(3, 14)),
                                rng.uniform(2.6, 5.2),
                            )
                        )
    for pts in drives:
        cv.polygon(pts, drive_col, "pavement")
    house_angle = 0.0
    for x, y, roof in houses:
        _house(cv, x, y, length, depth, house_angle, roof)
    if tree_pts:
        t = np.asarray(tree_pts)
        n_trees = _trees(cv, rng, t[:, 0], t[:, 1], t[:, 2])
    else:
        n_trees = 0
    for _ in range(int(rng.integers(0, 7))):
        y = _pick(rng, ys) + road_w * (0.22 if rng.random() < 0.5 else -0.22)
        x = rng.uniform(-10, 138)
        cars.append((x, y, 0.0 if rng.random() < 0.5 else math.pi, _pick(rng, _CARS)[1]))
    for x, y, a, col in cars:
        if cv.inside(x, y, -4):
            _car(cv, x, y, a, col, length=6.5, width=3.2)
    return {
        "houses": sum(cv.inside(x, y, 2) for x, y, _ in houses),
        "cars": sum(cv.inside(x, y, 1) for x, y, _, _ in cars),
        "trees": n_trees,
        "roof": "mixed" if mixed else roof_name,
        "sparse": sparse,
        "cross": cross_x is not None,
        "direction": _direction_words(cv.angle),
    }


def _scene_harbor(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    land = rng.uniform(14, 26)
    cv.paint(_box(-4, -4, 132, land), cv.texture(rng, _jit(rng, _PAVEMENT, 14), contrast=0.05), "pavement")
    cv.line([(-4, land), (132, land)], 1.0, (70, 70, 70))
    buildings = rng.random() < 0.75
    if buildings:
        x = rng.uniform(-8, 6)
        while x < 128:
            w = rng.uniform(14, 30)
            d = rng.uniform(7, max(8.0, land - 5))
            cv.polygon(
                _box(x, land - 2.5 - d, x + w, land - 2.5),
                _jit(rng, _pick(rng, _ROOFS[2:5])[1], 12),
                "building",
                shadow=2.0,
            )
            x += w + rng.uniform(4, 14)
    marina = rng.random() < 0.65
    pier_col = _jit(rng, (176, 166, 146), 12)
    boat_name, boat_rgb = ("white", _BOATS[0][1]) if rng.random() < 0.75 else _pick(rng, _BOATS)
    boats = 0
    if marina:
        n_piers = int(rng.integers(2, 5))
        gap = _U / n_piers
        pier_w = rng.uniform(2.4, 3.4)
        boat_len = rng.uniform(9, 13) * (0.85 if n_piers == 4 else 1.0)
        boat_w = boat_len * rng.uniform(0.36, 0.44)
        occupancy = rng.uniform(0.4, 0.92)
        for k in range(n_piers):
            px = gap * (k + 0.5) + rng.uniform(-3, 3)
            end = land + rng.uniform(0.45, 0.95) * (_U - land - 4)
            cv.polygon(_box(px - pier_w / 2, land - 1, px + pier_w / 2, end), pier_col, "dock", shadow=0.6)
            for side in (-1, 1):
                bx = px + side * (pier_w / 2 + 0.8 + boat_len / 2)
                if not bx - boat_len / 2 >= 1 and bx + boat_len / 2 <= _U - 1:
                    continue
                y = land + boat_w / 2 + 1.5
                while y + boat_w / 2 < end:
                    if rng.random() < occupancy:
                        col = boat_rgb if rng.random() < 0.8 else _pick(rng, _BOATS)[1]
                        _boat(cv, bx, y, math.pi if side > 0 else 0.0, boat_len, boat_w, _jit(rng, col, 8))
                        boats += 1
                    y += boat_w + rng.uniform(1.0, 2.2)
        piers = n_piers
    else:
        piers = int(rng.integers(1, 3))
        for k in range(piers):
            px = (k + 0.5) * _U / piers + rng.uniform(-6, 6)
            pier_w = rng.uniform(5, 7)
            cv.polygon(
                _box(px - pier_w / 2, land - 1, px + pier_w / 2, _U - rng.uniform(6, 14)),
                pier_col,
                "dock",
                shadow=0.8,
            )
            ship_len = rng.uniform(32, 52)
            ship_w = ship_len * rng.uniform(0.2, 0.26)
            for side in (-1, 1):
                sx = px + side * (pier_w / 2 + 0.8 + ship_w / 2)
                if rng.random() < 0.7 and sx - ship_w / 2 >= 1 and sx + ship_w / 2 <= _U - 1:
                    hull = _jit(rng, _pick(rng, [(120, 42, 38), (52, 60, 92), (60, 60, 64), (220, 220, 216)]), 10)
                    y = land + 3 + ship_len / 2 + rng.uniform(0, 8)
                    _boat(cv, sx, y, math.pi / 2, ship_len, ship_w, hull)
                    boats += 1
        if boats == 0:
            _boat(cv, _U / 2 / piers + 12, land + 34, math.pi / 2, 34, 8, (52, 60, 92))
            boats = 1
        boat_name = "large"
    if boats == 0:  # a harbour without a boat would be mislabelled: moor one at the first pier's tip
        _boat(cv, 10, land + 14, 0.0, 11, 4.5, boat_rgb)
        boats = 1
    u, v = cv.frame_point(64, land / 2)
    return {
        "boats": boats,
        "boat_color": boat_name,
        "piers": piers,
        "marina": marina,
        "buildings": buildings,
        "land_side": _side_word(u, v),
    }


def _scene_airport(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    ry, rw = rng.uniform(16, 32), rng.uniform(13, 17)
    runway = _jit(rng, (92, 92, 96), 8)
    cv.polygon(_box(-10, ry - rw / 2, 138, ry + rw / 2), runway, "pavement")
    for side in (-1, 1):
        cv.line([(-10, ry + side * (rw / 2 - 1.2)), (138, ry + side * (rw / 2 - 1.2))], 0.6, _WHITE)
    for x in np.arange(rng.uniform(-10, 0), 132, 11.0).tolist():
        cv.polygon(_box(x, ry - 0.45, x + 5.5, ry + 0.45), _WHITE)
    ty = ry + rw / 2 + rng.uniform(7, 12)
    taxi = _shade(runway, 14)
    cv.polygon(_box(-10, ty - 2.6, 138, ty + 2.6), taxi, "pavement")
    cv.line([(-10, ty), (138, ty)], 0.5, (206, 182, 70))
    for x in rng.uniform(10, 118, 2).tolist():
        cv.polygon(_box(x - 2.6, ry, x + 2.6, ty), taxi, "pavement")
    terminal = rng.random() < 0.75
    depth = rng.uniform(10, 16) if terminal else 0.0
    top, bottom = ty + 4.5, _U - depth
    cv.polygon(_box(-4, top, 132, _U + 4), _jit(rng, (168, 166, 160), 10), "pavement")
    if terminal:
        roof = _jit(rng, _pick(rng, [(200, 200, 198), (140, 142, 148), (176, 170, 160)]), 8)
        cv.polygon(_box(-4, bottom, 132, _U + 4), roof, "building", shadow=2.5)
        for x in np.arange(rng.uniform(2, 10), 124, rng.uniform(16, 26)).tolist():
            cv.polygon(_box(x, bottom + 3, x + 5, bottom + depth - 3), _shade(roof, -30))
    length = min(rng.uniform(22, 30), bottom - top - 3)
    span = length * 0.95
    slots = max(1, int((_U - 4) // (span + 3)))
    n_planes = int(rng.integers(1, min(4, slots) + 1))
    chosen = np.sort(rng.choice(slots, size=n_planes, replace=False))
    x0 = (_U - slots * (span + 3)) / 2 + (span + 3) / 2
    colour_name, colour = ("white", (236, 236, 234)) if rng.random() < 0.8 else ("grey", (196, 198, 204))
    heading = math.pi / 2 if terminal or rng.random() < 0.5 else -math.pi / 2
    for s in chosen.tolist():
        _airplane(
            cv,
            x0 + s * (span + 3),
            (top + bottom) / 2 + rng.uniform(-2, 2),
            heading,
            length,
            _jit(rng, colour, 6),
        )
    taxiing = rng.random() < 0.3
    if taxiing:
        _airplane(
            cv,
            rng.uniform(22, 106),
            ry if rng.random() < 0.5 else ty,
            0.0 if rng.random() < 0.5 else math.pi,
            rng.uniform(22, 28),
            _jit(rng, colour, 6),
        )
    u, v = cv.frame_point(64, ry)
    return {
        "planes": n_planes + taxiing,
        "parked": n_planes,
        "taxiing": taxiing,
        "terminal": terminal,
        "plane_color": colour_name,
        "runway_side": _side_word(u, v),
    }


def _scene_storage_tanks(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2)
    road = rng.random() < 0.55
    if road:
        cv.polygon(_box(-4, 118, 132, 126), _jit(rng, _ASPHALT, 10), "road")
    if rng.random() < 0.35:  # an irregular patch of grass in a corner
        a = np.linspace(0, math.pi / 2, 9)
        rad = rng.uniform(22, 44) * (1 + 0.15 * rng.standard_normal(9))
        blob = [(-4.0, -4.0)] + list(zip((rad * np.cos(a) - 4).tolist(), (rad * np.sin(a) - 4).tolist(), strict=True))
        cv.paint(blob, cv.texture(rng, _jit(rng, _GRASS, 10)), "grass")
    x0, y0, x1, y1 = 4.0, 4.0, 124.0, 114.0 if road else 124.0
    tank_name, tank_rgb = _pick(rng, _TANKS)
    tanks: list[tuple[float, float, float]] = []
    if rng.random() < 0.6:  # a regular grid, often with a containment berm
        rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        if rows * cols == 1:
            cols = 2
        cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
        r = min(18.0, min(cw, ch) / 2 * rng.uniform(0.62, 0.86))
        for i in range(rows):
            for j in range(cols):
                if rng.random() > 0.1:
                    tanks.append((x0 + cw * (j + 0.5), y0 + ch * (i + 0.5), r))
        if not tanks:
            tanks.append((x0 + cw / 2, y0 + ch / 2, r))
        layout = "grid" if rows > 1 else "row"
        if rng.random() < 0.6:
            cv.line(_box(x0 + 1, y0 + 1, x1 - 1, y1 - 1) + [(x0 + 1, y0 + 1)], 1.6, _shade(cv.ground_color, 30))
    else:
        for _ in range(40):
            r = rng.uniform(6, 16)
            x, y = rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r)
            if all((x - a) ** 2 + (y - b) ** 2 > (r + c + 2.5) ** 2 for a, b, c in tanks):
                tanks.append((x, y, r))
            if len(tanks) >= 9:
                break
        layout = "cluster"
    for x, y, r in tanks:
        _tank(cv, x, y, r, _jit(rng, tank_rgb, 8))
    if len(tanks) > 1 and rng.random() < 0.5:  # pipes between neighbours
        pts = [(x, y) for x, y, _ in tanks]
        cv.line(pts, 0.6, (120, 120, 118))
        for x, y, r in tanks:
            _tank(cv, x, y, r, _jit(rng, tank_rgb, 4))
    sizes = [r for _, _, r in tanks]
    return {
        "tanks": len(tanks),
        "tank_color": tank_name,
        "layout": layout,
        "road": road,
        "varied": max(sizes) > 1.4 * min(sizes),
        "ground": cv.ground_label,
    }


def _scene_parking_lot(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(int(rng.integers(4)) * math.pi / 2 + rng.uniform(-0.35, 0.35))
    stall_w, depth = rng.uniform(5.4, 6.2), rng.uniform(10, 11.5)
    aisle = rng.uniform(11, 15)
    period = 2 * depth + aisle
    occupancy = rng.uniform(0.45, 0.97)
    island = rng.random() < 0.45
    paint = (222, 222, 214)
    cars, rows = 0, 0
    y = _LO - 10 + rng.uniform(0, period)
    island_row = int(rng.integers(1, 4))
    row_index = 0
    while y < _HI:
        if island and row_index == island_row:  # a planted strip instead of a double row
            cv.polygon(_box(_LO, y + depth - 3, _HI, y + depth + 3), _jit(rng, _GRASS, 10), "grass")
            n = 30
            _trees(
                cv,
                rng,
                np.linspace(_LO, _HI, n) + rng.uniform(-2, 2, n),
                np.full(n, y + depth) + rng.uniform(-0.8, 0.8, n),
                rng.uniform(2.8, 4.2, n),
            )
        else:
            for x in np.arange(_LO, _HI, stall_w).tolist():
                if not cv.inside(x, y + depth, -depth - 5):
                    continue
                cv.line([(x, y), (x, y + 2 * depth)], 0.5, paint)
                for row_y, facing in ((y + depth / 2, -1), (y + 1.5 * depth, 1)):
                    if rng.random() < occupancy and cv.inside(x + stall_w / 2, row_y, -6):
                        ang = math.pi / 2 * facing + rng.uniform(-0.06, 0.06)
                        _car(
                            cv,
                            x + stall_w / 2,
                            row_y + rng.uniform(-0.5, 0.5),
                            ang,
                            _jit(rng, _pick(rng, _CARS)[1], 10),
                            length=rng.uniform(7.6, 8.6),
                            width=3.7,
                        )
                        cars += cv.inside(x + stall_w / 2, row_y, 1)
            cv.line([(_LO, y + depth), (_HI, y + depth)], 0.4, paint)
            rows += 2 * cv.inside(64, y + depth, -8)
        y += period
        row_index += 1
    return {"cars": cars, "full": occupancy > 0.8, "rows": rows, "island": island}


def _scene_tennis_courts(cv: _Canvas, rng: _Draws) -> Facts:
    n = int(rng.integers(1, 5))
    pad_w, pad_h = 36.0, 19.0 * n + 2
    for attempt in range(12):
        angle = rng.uniform(0, math.pi) if attempt < 10 else 0.0
        cx, cy = (64 + rng.uniform(-24, 24), 64 + rng.uniform(-24, 24)) if attempt < 11 else (64.0, 64.0)
        cv.set_rotation(angle)
        if all(cv.inside(x, y, 2) for x, y in _box(cx - pad_w / 2, cy - pad_h / 2, cx + pad_w / 2, cy + pad_h / 2)):
            break
    color_name, court, surround = _pick(rng, _COURTS)
    paved = rng.random() < 0.4
    if paved:  # a paved path or car park beside the courts
        cv.polygon(
            _box(cx - pad_w / 2 - 12, cy + pad_h / 2, cx + pad_w / 2 + 12, cy + pad_h / 2 + 10),
            _jit(rng, _PAVEMENT, 10),
            "pavement",
        )
    cv.polygon(
        _box(cx - pad_w / 2, cy - pad_h / 2, cx + pad_w / 2, cy + pad_h / 2),
        _jit(rng, surround, 8),
        "court",
        shadow=0.4,
    )
    court = _jit(rng, court, 8)
    for k in range(n):
        y = cy - pad_h / 2 + 1 + 19 * (k + 0.5)
        cv.polygon(_box(cx - 13, y - 6, cx + 13, y + 6), court)
        lines = [
            [(cx - 13, y - 6), (cx + 13, y - 6), (cx + 13, y + 6), (cx - 13, y + 6), (cx - 13, y - 6)],
            [(cx - 13, y - 4.5), (cx + 13, y - 4.5)],
            [(cx - 13, y + 4.5), (cx + 13, y + 4.5)],
            [(cx - 7, y - 4.5), (cx - 7, y + 4.5)],
            [(cx + 7, y - 4.5), (cx + 7, y + 4.5)],
            [(cx - 7, y), (cx + 7, y)],
        ]
        for pts in lines:
            cv.line(pts, 0.55, (238, 238, 236))
        cv.line([(cx, y - 6.8), (cx, y + 6.8)], 0.7, (50, 50, 52))
    building = rng.random() < 0.35
    if building:
        bx = cx + (pad_w / 2 + 9) * (1 if rng.random() < 0.5 else -1)
        cv.polygon(_rect(bx, cy, 10, 14, 0.0), _jit(rng, _pick(rng, _ROOFS)[1], 10), "building", shadow=2.0)
    k = int(rng.integers(10, 45))
    tx, ty = rng.uniform(-30, 158, 4 * k), rng.uniform(-30, 158, 4 * k)
    rs = rng.uniform(2.8, 6, 4 * k)
    margin = 2 + rs + (12 if building else 0)
    clear = (np.abs(tx - cx) > pad_w / 2 + margin) | (np.abs(ty - cy) > pad_h / 2 + margin + (10 if paved else 0))
    n_trees = _trees(cv, rng, tx[clear][:k], ty[clear][:k], rs[clear][:k])
    u, v = cv.frame_point(cx, cy)
    return {
        "courts": n,
        "color": color_name,
        "trees": n_trees,
        "building": building,
        "paved": paved,
        "where": _region_word(u, v),
    }


def _scene_freeway(cv: _Canvas, rng: _Draws) -> Facts:
    cv.set_rotation(rng.uniform(0, math.pi))
    lanes = int(rng.integers(2, 4))
    lane_w = rng.uniform(3.6, 4.4)
    carriage = lanes * lane_w + 1.6
    median = rng.uniform(2, 9)
    grass_median = median > 5
    cy = 64 + rng.uniform(-12, 12)
    road = _jit(rng, _ASPHALT, 10)
    tops = [cy - median / 2 - carriage, cy + median / 2]
    if not grass_median:
        cv.polygon(_box(_LO, cy - median / 2, _HI, cy + median / 2), _jit(rng, (170, 168, 162), 8), "pavement")
    for top in tops:
        cv.polygon(_box(_LO, top, _HI, top + carriage), road, "road")
        cv.line([(_LO, top + 0.6), (_HI, top + 0.6)], 0.4, _WHITE)
        cv.line([(_LO, top + carriage - 0.6), (_HI, top + carriage - 0.6)], 0.4, _WHITE)
        for k in range(1, lanes):
            ly = top + 0.8 + k * lane_w
            for x in np.arange(_LO + rng.uniform(0, 9), _HI, 9.0).tolist():
                cv.polygon(_box(x, ly - 0.22, x + 4, ly + 0.22), _WHITE)
    frontage = rng.random() < 0.3
    if frontage:
        fy = tops[0] - rng.uniform(10, 18)
        cv.polygon(_box(_LO, fy - 3, _HI, fy + 3), _jit(rng, _ASPHALT, 10), "road")
    n_cars = int(rng.integers(3, 24))
    cars = 0
    for _ in range(n_cars):
        which = int(rng.integers(2))
        lane = int(rng.integers(lanes))
        y = tops[which] + 0.8 + (lane + 0.5) * lane_w
        x = rng.uniform(-20, 148)
        if not cv.inside(x, y, -6):
            continue
        truck = rng.random() < 0.15
        col = _jit(rng, _pick(rng, _CARS)[1] if not truck else (210, 210, 206), 10)
        _car(cv, x, y, 0.0 if which else math.pi, col, length=14 if truck else 6.8, width=3.6 if truck else 3.2)
        cars += cv.inside(x, y, 1)
    trees = rng.random() < 0.6
    n_trees = 0
    if trees:
        k = int(rng.integers(12, 50))
        side = np.where(rng.random(k) < 0.5, -1.0, 1.0)
        dist = carriage + median / 2 + 4 + rng.exponential(8, k) + (22 if frontage else 0) * (side < 0)
        n_trees = _trees(cv, rng, rng.uniform(_LO, _HI, k), cy + side * dist, rng.uniform(2.8, 5.5, k))
    return {
        "cars": cars,
        "lanes": lanes,
        "grass_median": grass_median,
        "trees": n_trees,
        "frontage": frontage,
        "direction": _direction_words(cv.angle),
    }
