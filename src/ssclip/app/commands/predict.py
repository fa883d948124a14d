"""``ssclip predict``: zero-shot classification of images with any model."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ssclip.app.commands.common import add_image_args, add_output_arg, check_output, image_list, report, write_result

DESCRIPTION = """\
Which of these classes is each image? Zero-shot classification of a folder, a CSV/TSV list or image files with
any model (the offline default, an open_clip name + tag or checkpoint, a folder saved by `ssclip train`): the
prompt templates as in `ssclip eval`, the top-k classes per image with CLIP's softmax scores.

  ssclip predict --images tiles/ --classes "beach,forest,harbor,river" --output labels.csv
  ssclip predict --model runs/sclip/model --images tiles.csv --classes classes.txt --top-k 3 --output labels.json
"""


def add_parser(sub: argparse._SubParsersAction, add_model_args: Callable) -> None:
    p = sub.add_parser(
        "predict",
        help="zero-shot classification of images (top-k classes, CSV/JSON)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    add_image_args(p, "the images to classify")
    p.add_argument(
        "--classes",
        required=True,
        help="class names: 'a,b,c', or a file with one name per line (.txt) or a JSON list",
    )
    p.add_argument("--templates", default="aerial", help="template set name, JSON file or '|'-separated list")
    p.add_argument("--top-k", type=int, default=5, help="classes reported per image (default: %(default)s)")
    add_output_arg(p, "predictions, one row per image (label_1, score_1, ...)")


def run(args: argparse.Namespace) -> int:
    from ssclip.app.cli import _bundle
    from ssclip.engine.devices import resolve_device
    from ssclip.eval.templates import get_templates
    from ssclip.infer.predict import read_classnames, zeroshot_predict

    check_output(args.output)
    classnames = read_classnames(args.classes)
    templates = get_templates(args.templates.split("|") if "|" in args.templates else args.templates)
    paths = image_list(args)
    bundle = _bundle(args)
    pred = zeroshot_predict(
        bundle,
        paths,
        classnames,
        templates,
        top_k=args.top_k,
        device=resolve_device(args.device),
        batch_size=args.batch_size,
        strict=args.strict,
    )
    write_result(args.output, pred.rows(), pred.records())
    report("predict", f"{len(pred.paths)} image(s) classified into {len(classnames)} classes", pred.batches.skipped)
    return 0
