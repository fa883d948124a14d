"""What the predict / search / tag commands share: the image arguments and writing a result file."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUTPUT_SUFFIXES = (".csv", ".tsv", ".json")


def add_image_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--images",
        required=True,
        nargs="+",
        metavar="PATH",
        help=f"{what}: a folder (searched recursively), a CSV/TSV list with an image-path column, or image files",
    )
    p.add_argument("--csv-img-key", default="filepath", help="image column of a CSV/TSV list (default: %(default)s)")
    p.add_argument(
        "--csv-separator", default=None, help="field separator of a CSV/TSV list (default: tab for .tsv, else comma)"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unreadable image (default: skip it, and report how many were skipped)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: %(default)s)")


def add_output_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--output",
        default=None,
        help=f"{what}: .csv, .tsv or .json by the file's extension (default: CSV on the standard output)",
    )


def check_output(path: str | None) -> None:
    """Fail before any work when the result file's extension says no known format."""
    if path is not None and Path(path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {path}: expected a .csv, .tsv or .json file name")


def image_list(args: argparse.Namespace) -> list[Path]:
    from ssclip.data.images import image_paths

    return image_paths(args.images, image_key=args.csv_img_key, sep=args.csv_separator)


def write_result(path: str | None, rows: Sequence[dict[str, Any]], records: Any) -> None:
    """``rows`` (flat dicts) as CSV/TSV, or ``records`` as JSON, to ``path`` or the standard output."""
    if path is not None and Path(path).suffix.lower() == ".json":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(records, indent=2) + "\n")
        return
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    sep = "\t" if path is not None and Path(path).suffix.lower() == ".tsv" else ","
    if path is None:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, delimiter=sep, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, delimiter=sep)
        writer.writeheader()
        writer.writerows(rows)


def report(command: str, done: str, skipped: Sequence[tuple[Path, str]]) -> None:
    """One line on the standard error: what was written, and how many images were skipped."""
    note = f"; skipped {len(skipped)} unreadable image(s), first: {skipped[0][0]}" if skipped else ""
    print(f"ssclip {command}: {done}{note}", file=sys.stderr)
