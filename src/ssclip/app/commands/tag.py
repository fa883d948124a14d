"""``ssclip tag``: apply a saved multi-label tagger (``RUN/tagger`` of ``ssclip train --task multilabel``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ssclip.app.commands.common import add_image_args, add_output_arg, check_output, image_list, report, write_result

DESCRIPTION = """\
Which labels does each image carry? Applies the tagger a multi-label run saved (RUN/tagger, or the run folder
itself) to new images: per image the labels that pass their class's threshold, and every class's probability.

Thresholds (--decision-rule): 'stored' (default) uses the per-class thresholds of the run's final evaluation,
the ones behind its CF1/OF1, so an image is tagged the same alone or among thousands; 'prior' re-matches the
labeled images' label frequencies on the images given (the run's rule: only for a large batch drawn like the
evaluation images); a number such as 0.5 is one threshold for every class.

  ssclip tag --model runs/csa/tagger --images new_tiles/ --output tags.csv
"""


def add_parser(sub: argparse._SubParsersAction, add_model_args: Callable) -> None:
    p = sub.add_parser(
        "tag",
        help="label images with a saved multi-label tagger (labels + probabilities, CSV/JSON)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="a tagger folder (RUN/tagger) or the multi-label run folder holding it"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default: %(default)s)")
    add_image_args(p, "the images to tag")
    p.add_argument(
        "--decision-rule",
        default="stored",
        help="'stored' (the run's final thresholds), 'prior' (re-matched on these images) or a threshold such "
        "as 0.5 (default: %(default)s)",
    )
    add_output_arg(p, "tags, one row per image (labels, then one probability column per class)")


def run(args: argparse.Namespace) -> int:
    from ssclip.engine.devices import resolve_device
    from ssclip.infer.tagger import load_tagger

    check_output(args.output)
    tagger = load_tagger(args.model, device=resolve_device(args.device))
    tagger.thresholds_for(tagger.prior[None], args.decision_rule)  # a misspelt rule fails before the images
    paths = image_list(args)
    probs, batches = tagger.predict_files(paths, batch_size=args.batch_size, strict=args.strict)
    thresholds = tagger.thresholds_for(probs, args.decision_rule)
    rows, records = [], []
    for i, p in zip(batches.kept, probs, strict=True):
        on = [c for c, name in enumerate(tagger.classnames) if p[c] >= thresholds[c]]
        labels = [tagger.classnames[c] for c in on]
        rows.append(
            {"image": str(paths[i]), "labels": ";".join(labels)}
            | {name: round(float(p[c]), 6) for c, name in enumerate(tagger.classnames)}
        )
        records.append(
            {
                "image": str(paths[i]),
                "labels": [{"label": tagger.classnames[c], "probability": round(float(p[c]), 6)} for c in on],
                "probabilities": {name: round(float(p[c]), 6) for c, name in enumerate(tagger.classnames)},
            }
        )
    write_result(args.output, rows, records)
    report("tag", f"{len(rows)} image(s) tagged with {len(tagger.classnames)} classes", batches.skipped)
    return 0
