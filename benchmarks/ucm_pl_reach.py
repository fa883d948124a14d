"""How often can a caption pseudo-label be right? In-batch assignment vs assignment over every paired image.

For a model (the offline default before training, or trained models saved by the S-CLIP benchmark), embed
the UCM train images (evaluation transform), split them as the benchmark does (10% paired, seed 0), and
measure the share of unpaired images whose pseudo-label points at a paired image of the same scene class:

- ``in-batch ceiling``: a same-class paired image is in the batch at all (32 paired drawn at random);
- ``in-batch argmax`` / ``in-batch OT``: the nearest paired image of the batch, or the argmax of the row of
  S-CLIP's OT plan (10 log-domain Sinkhorn iterations, reg 1/s with s = 1/0.07) between 32 unpaired and the
  32 paired images of the batch (the paper's code);
- ``bank NN`` / ``bank OT``: the same over all paired images (what ``paired_bank=true`` lets the methods see).

Batches are 200 random draws (seeded). Writes the table to docs/RESULTS.md (section ``pl-reach``).

    python benchmarks/ucm_pl_reach.py                                   # the initial model
    python benchmarks/ucm_pl_reach.py --models initial runs/ucm_sclip/supervised-0.1-seed0/model
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_UCM, REPO, machine, shown_path, today, write_section  # noqa: E402
from ssclip.data.datasets import ImageDataset  # noqa: E402
from ssclip.data.split import split_labeled  # noqa: E402
from ssclip.data.ucm import load_ucm  # noqa: E402
from ssclip.eval.embed import encode_images  # noqa: E402
from ssclip.models.factory import create_clip  # noqa: E402
from ssclip.pseudo.sinkhorn import row_normalized, sinkhorn_log  # noqa: E402

BATCH, DRAWS, SCALE = 32, 200, 1 / 0.07


def embed_train_images(model_name: str, paths: list[str]) -> torch.Tensor:
    bundle = create_clip() if model_name == "initial" else create_clip(model_name)
    loader = DataLoader(ImageDataset(paths, bundle.eval_transform), batch_size=64)
    return encode_images(bundle.model, loader, "cpu", desc=f"embed {Path(model_name).parent.name or model_name}")


def reach(features: torch.Tensor, classes: torch.Tensor, paired: np.ndarray, unpaired: np.ndarray) -> dict:
    fp, fu = features[paired], features[unpaired]
    yp, yu = classes[paired], classes[unpaired]
    gen = torch.Generator().manual_seed(0)
    rows: dict[str, list[float]] = {"in-batch ceiling": [], "in-batch argmax": [], "in-batch OT": [], "bank OT": []}
    for _ in range(DRAWS):
        pi = torch.randperm(len(paired), generator=gen)[:BATCH]
        ui = torch.randperm(len(unpaired), generator=gen)[:BATCH]
        sim = fu[ui] @ fp[pi].T
        plan = row_normalized(sinkhorn_log(1 - sim, 1 / SCALE, n_iters=10))
        bank_plan = row_normalized(sinkhorn_log(1 - fu[ui] @ fp.T, 1 / SCALE, n_iters=10))
        rows["in-batch ceiling"].append(torch.isin(yu[ui], yp[pi]).float().mean().item())
        rows["in-batch argmax"].append((yp[pi][sim.argmax(1)] == yu[ui]).float().mean().item())
        rows["in-batch OT"].append((yp[pi][plan.argmax(1)] == yu[ui]).float().mean().item())
        rows["bank OT"].append((yp[bank_plan.argmax(1)] == yu[ui]).float().mean().item())
    out = {k: 100 * float(np.mean(v)) for k, v in rows.items()}
    out["bank NN"] = 100 * (yp[(fu @ fp.T).argmax(1)] == yu).float().mean().item()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_UCM)
    ap.add_argument("--models", nargs="+", default=["initial"], help="'initial' or saved model folders")
    ap.add_argument("--label-ratio", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results-md", type=Path, default=REPO / "docs" / "RESULTS.md")
    args = ap.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(2)
    data = load_ucm(args.data)
    train = data.indices("train")
    classes = torch.as_tensor(data.targets[train])
    paired, unpaired = split_labeled(len(train), args.label_ratio, args.seed)
    paths = [data.records[i].image for i in train]
    columns = ["in-batch ceiling", "in-batch argmax", "in-batch OT", "bank NN", "bank OT"]
    lines = [
        "## Caption pseudo-labels: how often they can be right",
        "",
        f"Command: `python benchmarks/ucm_pl_reach.py --models {' '.join(args.models)}`, {today()}, {machine()}. "
        f"UCM train split, {args.label_ratio:.0%} paired (seed {args.seed}); share (%) of unpaired images whose "
        f"pseudo-label is a paired image of their scene class, {DRAWS} random batches of {BATCH} + {BATCH}.",
        "",
        "| model | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for name in args.models:
        model_name = name if name == "initial" else str(Path(name).resolve())
        result = reach(embed_train_images(model_name, paths), classes, paired, unpaired)
        label = "initial (offline default)" if name == "initial" else f"`{shown_path(Path(name))}`"
        lines.append(f"| {label} | " + " | ".join(f"{result[c]:.1f}" for c in columns) + " |")
        print(lines[-1], flush=True)
    lines += ["", f"Wall time {(time.perf_counter() - started) / 60:.1f} min."]
    write_section(args.results_md, "pl-reach", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
