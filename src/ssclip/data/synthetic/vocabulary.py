"""The names shared by drawing, captions and export: scene classes, object labels and caption words."""

from __future__ import annotations

import re

SCENE_CLASSES: list[str] = [
    "residential",
    "forest",
    "harbor",
    "airport",
    "storage tanks",
    "farmland",
    "river",
    "parking lot",
    "tennis courts",
    "beach",
    "freeway",
]

OBJECT_LABELS: list[str] = [
    "airplane",
    "bare soil",
    "boat",
    "building",
    "car",
    "court",
    "dock",
    "field",
    "grass",
    "pavement",
    "road",
    "sand",
    "tank",
    "tree",
    "water",
]

# Every word a caption may use for an object. A caption word found here implies the label is positive.
CAPTION_VOCABULARY: dict[str, tuple[str, ...]] = {
    "airplane": (
        "airplane",
        "airplanes",
        "plane",
        "planes",
        "aircraft",
        "jet",
        "jets",
        "airliner",
        "airliners",
    ),
    "bare soil": ("soil", "dirt", "earth", "bare"),
    "boat": ("boat", "boats", "ship", "ships", "yacht", "yachts", "vessel", "vessels"),
    "building": (
        "building",
        "buildings",
        "house",
        "houses",
        "home",
        "homes",
        "roof",
        "roofs",
        "terminal",
        "warehouse",
        "warehouses",
        "clubhouse",
    ),
    "car": ("car", "cars", "vehicle", "vehicles", "truck", "trucks", "automobile", "automobiles"),
    "court": ("court", "courts"),
    "dock": ("dock", "docks", "pier", "piers", "jetty", "jetties", "wharf"),
    "field": ("field", "fields", "farmland", "crop", "crops", "cropland", "farm"),
    "grass": ("grass", "grassy", "lawn", "lawns", "meadow", "meadows", "grassland", "turf"),
    "pavement": (
        "pavement",
        "paved",
        "concrete",
        "runway",
        "runways",
        "apron",
        "tarmac",
        "parking",
        "taxiway",
        "driveway",
        "driveways",
    ),
    "road": (
        "road",
        "roads",
        "street",
        "streets",
        "highway",
        "highways",
        "freeway",
        "freeways",
        "lane",
        "lanes",
        "motorway",
    ),
    "sand": ("sand", "sandy", "beach"),
    "tank": ("tank", "tanks"),
    "tree": ("tree", "trees", "forest", "forests", "woods", "woodland", "grove", "canopy"),
    "water": ("water", "sea", "ocean", "river", "lake", "waves", "stream"),
}

_WORD_TO_LABEL: dict[str, str] = {w: label for label, words in CAPTION_VOCABULARY.items() for w in words}
_WORD = re.compile(r"[a-z]+")


def caption_objects(caption: str) -> set[str]:
    """The object labels a caption mentions, via :data:`CAPTION_VOCABULARY`."""
    return {_WORD_TO_LABEL[w] for w in _WORD.findall(caption.lower()) if w in _WORD_TO_LABEL}


def class_folder(name: str) -> str:
    """Folder name of a scene class: ``"storage tanks"`` -> ``"storage_tanks"``."""
    return name.replace(" ", "_")
