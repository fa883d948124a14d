"""The class-folder reader and readable class names, on small hand-made folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssclip.data.classfolders import read_class_folders, readable_class_name, split_concatenated

from .helpers import write_image

UCM_NAMES = {
    "agricultural": "agricultural", "airplane": "airplane", "baseballdiamond": "baseball diamond",
    "beach": "beach", "buildings": "buildings", "chaparral": "chaparral",
    "denseresidential": "dense residential", "forest": "forest", "freeway": "freeway",
    "golfcourse": "golf course", "harbor": "harbor", "intersection": "intersection",
    "mediumresidential": "medium residential", "mobilehomepark": "mobile home park", "overpass": "overpass",
    "parkinglot": "parking lot", "river": "river", "runway": "runway",
    "sparseresidential": "sparse residential", "storagetanks": "storage tanks", "tenniscourt": "tennis court",
}  # fmt: skip
RSSCN7_NAMES = {
    "aGrass": "grass", "bField": "field", "cIndustry": "industry", "dRiverLake": "river lake",
    "eForest": "forest", "fResident": "resident", "gParking": "parking",
}  # fmt: skip
AID_NAMES = {
    "Airport": "airport", "BareLand": "bare land", "BaseballField": "baseball field", "Beach": "beach",
    "Bridge": "bridge", "Center": "center", "Church": "church", "Commercial": "commercial",
    "DenseResidential": "dense residential", "Desert": "desert", "Farmland": "farmland", "Forest": "forest",
    "Industrial": "industrial", "Meadow": "meadow", "MediumResidential": "medium residential",
    "Mountain": "mountain", "Park": "park", "Parking": "parking", "Playground": "playground", "Pond": "pond",
    "Port": "port", "RailwayStation": "railway station", "Resort": "resort", "River": "river",
    "School": "school", "SparseResidential": "sparse residential", "Square": "square", "Stadium": "stadium",
    "StorageTanks": "storage tanks", "Viaduct": "viaduct",
}  # fmt: skip
WHU_RS19_NAMES = {
    "Airport": "airport", "Beach": "beach", "Bridge": "bridge", "Commercial": "commercial",
    "Desert": "desert", "Farmland": "farmland", "footballField": "football field", "Forest": "forest",
    "Industrial": "industrial", "Meadow": "meadow", "Mountain": "mountain", "Park": "park",
    "Parking": "parking", "Pond": "pond", "Port": "port", "railwayStation": "railway station",
    "Residential": "residential", "River": "river", "Viaduct": "viaduct",
}  # fmt: skip
RESISC45_NAMES = {
    "airplane": "airplane", "airport": "airport", "baseball_diamond": "baseball diamond",
    "basketball_court": "basketball court", "beach": "beach", "bridge": "bridge", "chaparral": "chaparral",
    "church": "church", "circular_farmland": "circular farmland", "cloud": "cloud",
    "commercial_area": "commercial area", "dense_residential": "dense residential", "desert": "desert",
    "forest": "forest", "freeway": "freeway", "golf_course": "golf course",
    "ground_track_field": "ground track field", "harbor": "harbor", "industrial_area": "industrial area",
    "intersection": "intersection", "island": "island", "lake": "lake", "meadow": "meadow",
    "medium_residential": "medium residential", "mobile_home_park": "mobile home park",
    "mountain": "mountain", "overpass": "overpass", "palace": "palace", "parking_lot": "parking lot",
    "railway": "railway", "railway_station": "railway station",
    "rectangular_farmland": "rectangular farmland", "river": "river", "roundabout": "roundabout",
    "runway": "runway", "sea_ice": "sea ice", "ship": "ship",
    "snowberg": "snowberg", "sparse_residential": "sparse residential", "stadium": "stadium",
    "storage_tank": "storage tank", "tennis_court": "tennis court", "terrace": "terrace",
    "thermal_power_station": "thermal power station", "wetland": "wetland",
}  # fmt: skip


@pytest.mark.parametrize(
    ("dataset", "names", "count"),
    [("ucm", UCM_NAMES, 21), ("rsscn7", RSSCN7_NAMES, 7), ("aid", AID_NAMES, 30),
     ("whu-rs19", WHU_RS19_NAMES, 19), ("resisc45", RESISC45_NAMES, 45)],
)  # fmt: skip
def test_readable_class_names_of_five_datasets(dataset: str, names: dict[str, str], count: int) -> None:
    assert len(names) == count
    assert {folder: readable_class_name(folder) for folder in names} == names


@pytest.mark.parametrize(
    ("folder", "readable"),
    [
        ("storage_tanks", "storage tanks"),
        ("bare-soil", "bare soil"),
        ("mobile-home", "mobile home"),
        ("Desert", "desert"),
        ("baseballfield", "baseball field"),  # lower-cased AID
        ("railwaystation", "railway station"),
        ("diningtable", "dining table"),  # VOC
        ("tvmonitor", "tv monitor"),
        ("seashore", "seashore"),  # "shore" is not in the vocabulary: kept, not guessed
        ("class10", "class10"),
        ("  Sea   Ice ", "sea ice"),
    ],
)
def test_readable_class_name_other_spellings(folder: str, readable: str) -> None:
    assert readable_class_name(folder) == readable


def test_split_concatenated_prefers_fewest_words_and_custom_vocabulary() -> None:
    assert split_concatenated("farmland") == ["farmland"]  # not "farm land"
    assert split_concatenated("mobilehomepark") == ["mobile", "home", "park"]
    assert readable_class_name("redroofs", vocabulary=["red", "roofs"]) == "red roofs"
    assert readable_class_name("redroofs") == "redroofs"


def test_read_class_folders_sorted_with_keys(tmp_path: Path) -> None:
    for folder, files in {
        "gParking": ["b.jpg", "a.JPG"],
        "aGrass": ["z.png", "y.tif"],
        "dRiverLake": ["r.bmp"],
    }.items():
        for name in files:
            write_image(tmp_path / folder / name)
    (tmp_path / "aGrass" / "notes.txt").write_text("not an image")
    write_image(tmp_path / "aGrass" / ".hidden.jpg")
    write_image(tmp_path / ".cache" / "x.jpg")
    (tmp_path / "readme.jpg").write_text("a file at the root is not a class")

    data = read_class_folders(tmp_path)
    assert data.classnames == ["grass", "river lake", "parking"]
    assert data.keys == [
        "aGrass/y.tif",
        "aGrass/z.png",
        "dRiverLake/r.bmp",
        "gParking/a.JPG",
        "gParking/b.jpg",
    ]
    assert data.targets == [0, 0, 1, 2, 2]
    assert data.images[3] == tmp_path / "gParking" / "a.JPG"

    only_png = read_class_folders(tmp_path, extensions=["png"])
    assert only_png.keys == ["aGrass/z.png"] and only_png.classnames == data.classnames


def test_read_class_folders_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="class-folder root not found"):
        read_class_folders(tmp_path / "nope")
    with pytest.raises(ValueError, match="no class folders"):
        read_class_folders(tmp_path)
    (tmp_path / "beach").mkdir()
    (tmp_path / "beach" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="1 class folders but no images"):
        read_class_folders(tmp_path)
