"""Captions: each scene class's writer turns the facts its painter reports into candidate sentences, and
:func:`_write_captions` keeps five that name only visible objects. Also the position words painters put
into their facts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .canvas import _Draws
from .vocabulary import caption_objects

# What a scene painter reports to its caption writer (counts, colours, sides, flags).
Facts = dict[str, object]

_N_CAPTIONS = 5

_NUMBERS = [
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]


def _side_word(u: float, v: float) -> str:
    du, dv = u - 64.0, v - 64.0
    if abs(du) > abs(dv):
        return "right" if du > 0 else "left"
    return "bottom" if dv > 0 else "top"


def _region_word(u: float, v: float) -> str:
    col = 0 if u < 48 else (2 if u > 80 else 1)
    row = 0 if v < 48 else (2 if v > 80 else 1)
    return [
        ["in the upper left", "at the top", "in the upper right"],
        ["on the left", "in the middle", "on the right"],
        ["in the lower left", "at the bottom", "in the lower right"],
    ][row][col]


def _direction_words(angle: float) -> str:
    """How a line along layout x runs through the image after rotating by ``angle``."""
    dx, dy = math.cos(angle), math.sin(angle)
    if dx < 0:
        dx, dy = -dx, -dy
    if abs(dy) < 0.38:
        return "from left to right"
    if dx < 0.38:
        return "from top to bottom"
    return "from the upper left to the lower right" if dy > 0 else "from the lower left to the upper right"


class _Say:
    """Random wording helpers bound to one image's generator."""

    def __init__(self, rng: _Draws) -> None:
        self.rng = rng

    def __call__(self, *options: str) -> str:
        return options[int(self.rng.integers(len(options)))]

    def count(self, n: int, exact_up_to: int = 9) -> str:
        """``n`` as words: exact when small (sometimes vague), vague when large."""
        if n <= 1:
            return self("a", "one") if n == 1 else "no"
        if n <= exact_up_to and self.rng.random() < 0.7:
            return _NUMBERS[n]
        if n <= 4:
            return self("a few", "some", "several") if n > 2 else self("two", "a couple of")
        if n <= 12:
            return self("several", "some", "many")
        return self("many", "lots of", "a large number of", "dozens of" if n >= 24 else "many")

    def noun(self, n: int, singular: str, plural: str) -> str:
        return singular if n == 1 else plural


def _write_captions(scene: str, facts: Facts, present: set[str], rng: _Draws) -> tuple[str, ...]:
    """Five captions, distinct where the scene allows, mentioning only objects that are visible."""
    say = _Say(rng)
    candidates = [_tidy(c) for c in _CAPTIONERS[scene](facts, say)]
    valid = list(dict.fromkeys(c for c in candidates if caption_objects(c) <= present))
    if not valid:  # every scene writer has object-free fallbacks; this guards future edits
        valid = [_tidy(f"an aerial image of a {scene} scene")]
    order = rng.permutation(len(valid)).tolist()
    chosen = [valid[i] for i in order[:_N_CAPTIONS]]
    while len(chosen) < _N_CAPTIONS:
        chosen.append(valid[int(rng.integers(len(valid)))])
    return tuple(chosen)


_SIDE_PHRASES = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
}
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def _tidy(text: str) -> str:
    """One sentence: single spaces, "an" before a vowel, capital first letter, final period."""
    text = _A_BEFORE_VOWEL.sub(r"\1n ", " ".join(text.split()))
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _caps_residential(f: Facts, say: _Say) -> list[str]:
    h, c = int(f["houses"]), int(f["cars"])
    houses = say("houses", "buildings", "homes")
    roof = "" if f["roof"] == "mixed" else f"{f['roof']} "
    kind = say("sparse", "quiet") if f["sparse"] else say("dense", "crowded", "compact")
    out = [
        f"There are {say.count(h, 0)} {houses} arranged neatly along the {say('roads', 'streets')}.",
        f"A {kind} residential area with {say.count(h, 0)} {roof}{houses} and some trees.",
        f"{say.count(h, 0)} {houses} with {roof or 'colorful '}roofs are located on both sides of the "
        f"{say('road', 'street')}.",
        f"Rows of {houses} stand beside straight {say('roads', 'streets')} {f['direction']}.",
        f"Many {houses} and green trees fill this {kind} neighborhood.",
        f"This is a {kind} residential area.",
        f"Some trees and {say('lawns', 'grass')} are scattered between the {houses}.",
        f"The {houses} in the neighborhood have {roof or 'different colored '}roofs.",
    ]
    if f["cross"]:
        out.append(f"Two {say('roads', 'streets')} cross each other among the {houses}.")
    if c:
        out.append(
            f"{say.count(c)} {say.noun(c, 'car is', 'cars are')} parked along the "
            f"{say('roads', 'streets')} of the neighborhood."
        )
        out.append(f"Some {houses} have a {say('car', 'vehicle')} in front of them.")
    out.append(f"Some {houses} have a small {say('driveway', 'paved driveway')} to the {say('road', 'street')}.")
    if f["sparse"]:
        out.append(f"Large detached {houses} are surrounded by {say('lawns', 'grass')} and trees.")
    else:
        out.append(f"Many {houses} are densely packed together.")
    return out


def _caps_forest(f: Facts, say: _Say) -> list[str]:
    shade = f["shade"]
    out = [
        f"Many {shade} trees are densely packed together in the {say('forest', 'woods')}.",
        f"It is a dense forest with lush {shade} trees.",
        f"The {say('forest is', 'woods are')} full of trees of different sizes.",
        "Lots of trees grow closely together.",
        f"A thick {say('forest', 'woodland')} covers the whole image.",
        "The tree crowns form a continuous green canopy.",
        "There are many round green trees.",
    ]
    if f["path"]:
        out.append(f"A narrow {say('dirt path', 'path of bare soil', 'dirt track')} winds through the dense forest.")
    if f["autumn"]:
        out.append("Some yellow trees stand out among the green forest.")
    return out


def _caps_harbor(f: Facts, say: _Say) -> list[str]:
    b, p = int(f["boats"]), int(f["piers"])
    boats_word = say("boats", "yachts") if f["marina"] else say("ships", "boats", "vessels")
    boats = say.noun(b, boats_word[:-1], boats_word)
    color = f["boat_color"]
    piers = say.noun(p, say("pier", "dock"), say("piers", "docks"))
    out = [
        f"A harbor with {say.count(b)} {color} {boats} moored at the {piers}.",
        f"{say.count(b)} {boats} {say.noun(b, 'is', 'are')} {say('parked', 'docked', 'moored')} along "
        f"{say.count(p)} {piers}.",
        f"{say.count(p)} {piers} {say.noun(p, 'extends', 'extend')} into the water from the land "
        f"{_SIDE_PHRASES[str(f['land_side'])]}.",
        f"The water in the harbor is {say('calm', 'still', 'dark')}.",
        f"There {say.noun(b, 'is', 'are')} {say.count(b)} {boats} in the harbor.",
        f"This is a {say('busy', 'small', 'quiet')} {'marina' if f['marina'] else 'port'}.",
    ]
    if f["marina"]:
        out.append(
            f"Lots of {say('yachts', 'boats')} are neatly docked in the marina."
            if b > 6
            else f"A few {say('yachts', 'boats')} are docked in the marina."
        )
    else:
        out.append(
            f"{say.count(b)} large {say.noun(b, 'ship is', 'ships are')} docked beside a long {say('pier', 'jetty')}."
        )
    if f["buildings"]:
        out.append(
            f"Some {say('warehouses', 'buildings')} stand on the {say('concrete', 'paved')} land next to the water."
        )
    out.append(f"The land {_SIDE_PHRASES[str(f['land_side'])]} is covered with {say('concrete', 'pavement')}.")
    return out


def _caps_airport(f: Facts, say: _Say) -> list[str]:
    n, parked = int(f["planes"]), int(f["parked"])
    planes = say.noun(parked, say("airplane", "plane", "aircraft"), say("airplanes", "planes", "aircraft"))
    all_planes = say.noun(n, say("airplane", "plane"), say("airplanes", "planes"))
    color = f["plane_color"]
    out = [
        f"{say.count(parked)} {color} {planes} {say.noun(parked, 'is', 'are')} parked on the "
        f"{say('apron', 'tarmac', 'concrete')}.",
        f"An airport with a long runway and {say.count(n)} {all_planes}.",
        f"There is a runway with white markings at the {f['runway_side']} of the image.",
        f"{say.count(parked)} {planes} {say.noun(parked, 'stands', 'stand')} beside a long straight runway.",
        f"Some {say('grass', 'meadow')} surrounds the runway of the airport.",
        "This is an airport.",
        f"A long runway {say('crosses', 'runs across')} the airport beside a {say('taxiway', 'parallel taxiway')}.",
    ]
    if f["terminal"]:
        out.append(f"{say.count(parked)} {planes} {say.noun(parked, 'is', 'are')} parked near the terminal.")
        out.append(f"A large terminal building is next to the {say('apron', 'tarmac')}.")
    if f["taxiing"]:
        out.append(f"A {say('plane', 'airplane')} is moving along the {say('runway', 'taxiway')}.")
    return out


def _caps_storage_tanks(f: Facts, say: _Say) -> list[str]:
    n = int(f["tanks"])
    color = f["tank_color"]
    tanks = say.noun(n, "tank", "tanks")
    layout = {
        "grid": say("arranged in rows", "lined up neatly in rows"),
        "row": say("in a row", "lined up in a row"),
        "cluster": say("close to each other", "scattered around"),
    }[str(f["layout"])]
    ground = say("bare soil", "dirt ground", "bare land") if f["ground"] == "bare soil" else say("concrete", "pavement")
    out = [
        f"{say.count(n, 12)} {color} storage {tanks} {say.noun(n, 'is', 'are')} {layout}.",
        f"There {say.noun(n, 'is', 'are')} {say.count(n, 12)} round {tanks} on the {ground}.",
        f"{say.count(n, 12)} {say('big', 'large', 'cylindrical')} storage {tanks} "
        f"{say.noun(n, 'stands', 'stand')} in an industrial area.",
        f"{say.count(n, 12)} {color} {say('oil', 'storage', 'round')} {tanks} with shadows.",
        f"This is an area with storage {tanks}.",
        f"Some round {color} {tanks} are {layout}." if n > 1 else f"A single big {color} tank.",
    ]
    if f["varied"]:
        out.append(f"Storage {tanks} of different sizes are close to each other.")
    if f["road"]:
        out.append(f"Some storage {tanks} are located next to a {say('road', 'street')}.")
    out.append(f"{say('Some grass grows', 'There is a lawn')} beside the {tanks}.")
    return out


def _caps_farmland(f: Facts, say: _Say) -> list[str]:
    colors = list(f["colors"]) or ["green"]
    col = " and ".join(colors[:2])
    out = [
        f"The farmland is divided into {say('many', 'several')} rectangular fields of different colors.",
        f"There are {col} fields with neat stripes.",
        "Several pieces of farmland are planted with crops in straight rows.",
        f"Many {say('crops', 'plants')} grow in long parallel lines.",
        f"It is a piece of {say('farmland', 'cropland')} with {col} fields.",
        f"{say('Some', 'Many', 'Several')} fields are separated by "
        f"{say('narrow strips of bare soil', 'dirt borders')}.",
        "This is a farm seen from above.",
    ]
    if f["road"]:
        out.append(f"A narrow {say('road', 'dirt road')} runs between the fields.")
    if f["hedge"]:
        out.append(f"A row of trees {say('separates', 'divides')} the fields.")
    return out


def _caps_river(f: Facts, say: _Say) -> list[str]:
    winding = say("winding", "curved", "meandering")
    out = [
        f"A {winding} river runs through the green {say('meadow', 'grassland', 'grass')}.",
        f"A {winding} river with trees on both {say('banks', 'sides')}.",
        f"Many trees grow along the {say('banks', 'sides')} of the river.",
        f"There is a river running {f['direction']} with {say('grass', 'meadows')} beside it.",
        f"Some green trees and {say('grass', 'meadows')} are on both sides of the river.",
        f"The {say('river', 'water')} is {f['water']} and {winding}.",
        f"A {winding} river flows {f['direction']}.",
    ]
    if f["sandy"]:
        out.append(f"The river has {say('sandy banks', 'banks of sand')}.")
    if f["bridge"]:
        out.append(f"A {say('road', 'highway')} bridge crosses the river.")
    return out


def _caps_parking_lot(f: Facts, say: _Say) -> list[str]:
    n = int(f["cars"])
    cars = say("cars", "vehicles")
    out = [
        f"{say.count(n)} {cars} are parked neatly in the parking lot.",
        f"There are {say('several', 'many')} rows of {cars} in a parking lot.",
        f"The parking lot is {say('almost full', 'full of cars', 'crowded')}."
        if f["full"]
        else f"The parking lot is {say('half empty', 'partly empty')}.",
        f"Lots of {cars} of different colors are parked in lines.",
        f"A large parking lot with white lines and {say.count(n)} {cars}.",
        f"This is a {say('large', 'big', 'busy')} parking lot.",
        f"{say('Many', 'Lots of')} {cars} are parked in the parking lot.",
    ]
    if f["island"]:
        out.append(f"A row of trees on a strip of {say('grass', 'lawn')} divides the parking lot.")
    return out


def _caps_tennis_courts(f: Facts, say: _Say) -> list[str]:
    n = int(f["courts"])
    courts = say.noun(n, "tennis court", "tennis courts")
    color = f["color"]
    out = [
        f"{say.count(n)} {color} {courts} {say.noun(n, 'is', 'are')} surrounded by green trees.",
        f"There {say.noun(n, 'is', 'are')} {say.count(n)} {courts} {'next to each other' if n > 1 else 'here'}.",
        f"{say.count(n)} {courts} {say.noun(n, 'is', 'are')} located on the {say('grass', 'lawn')}.",
        f"Some trees are around the {courts}.",
        f"{say.count(n)} {courts} with white lines {f['where']} of the image.",
        f"{say.count(n)} {color} {courts} {f['where']}.",
        f"This is a place with {say.count(n)} {courts}.",
    ]
    if f["building"]:
        out.append(f"A small {say('building', 'clubhouse')} stands beside the {courts}.")
    if f["paved"]:
        out.append(f"A {say('paved', 'concrete')} area is next to the {courts}.")
    return out


def _caps_beach(f: Facts, say: _Say) -> list[str]:
    side = str(f["sea_side"])
    sea = say("sea", "ocean")
    out = [
        f"The {sea} is {_SIDE_PHRASES[side]} and the {say('sandy beach', 'beach')} is "
        f"{_SIDE_PHRASES[_OPPOSITE[side]]}.",
        f"White waves roll onto the {say('yellow', 'golden')} beach.",
        f"A beach with {f['water']} {sea} water and {say('fine', 'yellow')} sand.",
        f"This is a {say('long', 'quiet', 'beautiful')} beach.",
        f"The {sea} meets the {say('sand', 'beach')} along a curved line.",
        f"There is a {say('wide', 'long')} {say('sandy beach', 'stretch of sand')} beside the {sea}.",
        "The coastline is curved with white waves.",
    ]
    if f["trees"]:
        out.append(f"Some green trees grow {say('beside', 'behind')} the beach.")
    if f["buildings"]:
        out.append(f"Some buildings stand {say('behind', 'near')} the beach.")
    if f["umbrellas"]:
        out.append(f"Many colorful umbrellas are on the {say('beach', 'sand')}.")
    if f["boats"]:
        b = int(f["boats"])
        out.append(f"{say.count(b)} white {say.noun(b, 'boat is', 'boats are')} sailing on the {sea}.")
    return out


def _caps_freeway(f: Facts, say: _Say) -> list[str]:
    n = int(f["cars"])
    road = say("freeway", "highway")
    cars = say.noun(n, say("car", "vehicle"), say("cars", "vehicles"))
    median = say("a green belt of grass", "a strip of grass") if f["grass_median"] else "a concrete barrier"
    out = [
        f"A {road} with {say.count(n)} {cars} {say('running', 'driving')} on it.",
        f"There are {_NUMBERS[2 * int(f['lanes'])]} lanes on the {road} separated by {median}.",
        f"Some {cars} are driving on the {road} {f['direction']}."
        if n > 1
        else f"A {cars} is driving on the {road} {f['direction']}.",
        f"Two parallel roads {say('run', 'go')} {f['direction']} with {say('grass', 'green meadows')} beside them.",
        f"A long straight {road} crosses the image.",
        f"This is a {say('busy', 'wide')} {road}.",
        f"The {road} runs {f['direction']}.",
    ]
    if f["trees"]:
        out.append(f"A long straight {road} with trees on both sides.")
    if n >= 8:
        out.append(f"Many {say('vehicles', 'cars')} are driving on the {road}.")
    if f["frontage"]:
        out.append(f"A smaller {say('road', 'street')} runs parallel to the {road}.")
    return out


_CAPTIONERS: dict[str, Callable[[Facts, _Say], list[str]]] = {
    "residential": _caps_residential,
    "forest": _caps_forest,
    "harbor": _caps_harbor,
    "airport": _caps_airport,
    "storage tanks": _caps_storage_tanks,
    "farmland": _caps_farmland,
    "river": _caps_river,
    "parking lot": _caps_parking_lot,
    "tennis courts": _caps_tennis_courts,
    "beach": _caps_beach,
    "freeway": _caps_freeway,
}
