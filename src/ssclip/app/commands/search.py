"""``ssclip search``: text and image queries over an image collection, through its embedding index."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ssclip.app.commands.common import add_image_args, add_output_arg, check_output, image_list, report, write_result

DESCRIPTION = """\
Which images of a collection match a description (or look like an image)? The first search embeds every
image once into an index file (a memory-mapped .npy + a .json row table, beside the images or at --index,
keyed by the model and the images' bytes); later searches reuse it and embed only images added or changed.
Results: the top-k images per query with cosine scores, as CSV/JSON, and with --html a contact sheet of
thumbnails to open in a browser (--png: the same sheet as one picture).

  ssclip search --images ucm/Images --query "a baseball field beside houses" --html sheet.html
  ssclip search --model runs/sclip/model --images tiles/ --query-file queries.txt --top-k 5 --output hits.csv
  ssclip search --images tiles/ --query-image example.tif --output similar.json
"""


def add_parser(sub: argparse._SubParsersAction, add_model_args: Callable) -> None:
    p = sub.add_parser(
        "search",
        help="search images by text or example image through an embedding index (CSV/JSON, HTML sheet)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    add_image_args(p, "the collection to search")
    p.add_argument(
        "--index",
        default=None,
        help="index file (.npy; its row table is the .json beside it) (default: .ssclip-index-<model key>.npy in "
        "the images' folder)",
    )
    p.add_argument("--query", action="append", default=[], metavar="TEXT", help="a text query (repeatable)")
    p.add_argument("--query-file", default=None, help="a file of text queries, one per line")
    p.add_argument(
        "--query-image", action="append", default=[], metavar="PATH", help="an example image as query (repeatable)"
    )
    p.add_argument("--top-k", type=int, default=10, help="images returned per query (default: %(default)s)")
    add_output_arg(p, "results, one row per (query, rank): query, kind, rank, image, score")
    p.add_argument("--html", default=None, help="also write a contact sheet: one row of thumbnails per query")
    p.add_argument("--png", default=None, help="also write the contact sheet as one PNG picture")
    p.add_argument("--thumb-size", type=int, default=160, help="thumbnail size in pixels (default: %(default)s)")


def _text_queries(args: argparse.Namespace) -> list[str]:
    queries = [q for q in args.query]
    if args.query_file:
        path = Path(args.query_file)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: query file not found")
        queries += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, q in enumerate(queries):
        if not q.strip():
            raise ValueError(f"query {i + 1} is empty")
    return queries


def run(args: argparse.Namespace) -> int:
    from ssclip.app.cli import _bundle
    from ssclip.engine.devices import resolve_device
    from ssclip.infer.index import build_or_update_index, default_index_path, model_key
    from ssclip.infer.search import (
        result_records,
        result_rows,
        search_index,
        write_contact_sheet_html,
        write_contact_sheet_png,
    )

    check_output(args.output)
    texts = _text_queries(args)
    query_images = [Path(p) for p in args.query_image]
    for p in query_images:
        if not p.is_file():
            raise FileNotFoundError(f"--query-image {p}: no such file")
    if not texts and not query_images:
        raise ValueError("no query: give --query TEXT, --query-file FILE or --query-image PATH")
    if args.index is not None and Path(args.index).suffix != ".npy":
        raise ValueError(f"--index {args.index}: expected a .npy file name (its row table goes beside it as .json)")
    paths = image_list(args)
    bundle = _bundle(args)
    device = resolve_device(args.device)
    index_path = Path(args.index) if args.index else default_index_path(args.images[0], model_key(bundle))
    index = build_or_update_index(bundle, paths, index_path, device, args.batch_size, args.strict)
    s = index.stats
    report("search", f"index {index_path}: {len(index)} images ({s['reused']} reused, {s['encoded']} embedded)", [])
    results = search_index(index, bundle, texts, query_images, args.top_k, device)
    write_result(args.output, result_rows(results), result_records(results))
    if args.html:
        write_contact_sheet_html(results, args.html, args.thumb_size)
    if args.png:
        write_contact_sheet_png(results, args.png, args.thumb_size)
    report("search", f"{len(results)} queries answered", index.skipped)
    return 0
