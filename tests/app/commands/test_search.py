"""``ssclip search``: on UCM test captions its ranks agree with the retrieval metrics' text->image R@k; the index
is reused, updated incrementally, rebuilt for another model; a contact sheet is written."""

from __future__ import annotations

import json
import re

import torch
from torch.utils.data import DataLoader

from ssclip.data.datasets import ImageDataset
from ssclip.eval.embed import encode_images, encode_texts
from ssclip.eval.retrieval import retrieval_metrics
from ssclip.models import load_clip
from tests.app.test_cli import _run


def test_search_ranks_agree_with_text_to_image_recall(capsys, saved_model, ucm_subset, tmp_path):
    folder, records = ucm_subset
    captions = [(c, i) for i, (_, r) in enumerate(records) for c in r.captions]
    (tmp_path / "queries.txt").write_text("\n".join(c for c, _ in captions) + "\n")
    code, _, err = _run(
        capsys,
        ["search", "--model", saved_model, "--images", folder, "--query-file", tmp_path / "queries.txt"]
        + ["--top-k", "10", "--device", "cpu", "--output", tmp_path / "hits.json"],
    )
    assert code == 0, err
    results = json.loads((tmp_path / "hits.json").read_text())
    assert len(results) == len(captions) == 210
    paths = [str(p) for p, _ in records]
    ranks = [
        next((h["rank"] for h in res["results"] if h["image"] == paths[i]), 99)
        for res, (_, i) in zip(results, captions, strict=True)
    ]
    bundle = load_clip(saved_model)
    loader = DataLoader(ImageDataset([p for p, _ in records], bundle.eval_transform), batch_size=64)
    image_emb = encode_images(bundle.model, loader, "cpu")
    text_emb = encode_texts(bundle.model, bundle.tokenizer, [c for c, _ in captions], "cpu")
    metrics = retrieval_metrics(image_emb, text_emb, torch.tensor([i for _, i in captions]))
    for k in (1, 5, 10):
        search_recall = 100.0 * sum(r <= k for r in ranks) / len(ranks)
        assert abs(search_recall - metrics[f"t2i_r{k}"]) < 1e-4, k


def _stats(err: str) -> tuple[int, int, int]:
    found = re.search(r": (\d+) images \((\d+) reused, (\d+) embedded\)", err)
    assert found, err
    return int(found[1]), int(found[2]), int(found[3])


def test_index_is_reused_updated_incrementally_and_keyed_by_model(
    capsys, saved_model, ucm_subset, tiny_configs, tmp_path
):
    _, records = ucm_subset
    images = tmp_path / "collection"
    images.mkdir()
    for path, _ in records[:4]:
        (images / path.name).write_bytes(path.read_bytes())
    argv = ["search", "--images", images, "--query", "a river", "--device", "cpu", "--top-k", "3"]
    code, _, err = _run(capsys, argv + ["--model", saved_model])
    assert code == 0 and _stats(err) == (4, 0, 4)
    index = list(images.glob(".ssclip-index-*.npy"))
    assert len(index) == 1 and index[0].with_suffix(".json").is_file()
    for path, _ in records[4:6]:  # two images added, one renamed, one corrupt file
        (images / path.name).write_bytes(path.read_bytes())
    (images / records[0][0].name).rename(images / "renamed.jpg")
    (images / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    code, out, err = _run(
        capsys, argv + ["--model", saved_model, "--png", tmp_path / "sheet.png", "--html", tmp_path / "sheet.html"]
    )
    assert code == 0, err
    assert _stats(err) == (6, 4, 2), "only the added images are embedded; the renamed one is found by its bytes"
    assert "skipped 1 unreadable image(s)" in err and "broken.jpg" in err
    assert out.splitlines()[0] == "query,kind,rank,image,score" and len(out.splitlines()) == 4
    assert (tmp_path / "sheet.png").stat().st_size > 0
    html = (tmp_path / "sheet.html").read_text()
    assert html.count("<figure>") == 3 and html.count("data:image/jpeg;base64,") == 3 and "a river" in html
    code, _, err = _run(capsys, argv + ["--model", saved_model, "--strict"])
    assert code == 2 and "broken.jpg: unreadable image" in err
    (images / "broken.jpg").unlink()
    # Another model gets its own index file; asked to use this one, it rebuilds it.
    other = ["--model", "tiny-vit-test"]
    code, _, err = _run(capsys, argv + other + ["--index", index[0]])
    assert code == 0 and _stats(err) == (6, 0, 6)


def test_search_bad_input_is_named(capsys, tmp_path):
    code, _, err = _run(capsys, ["search", "--images", tmp_path])
    assert code == 2 and "no query" in err
    code, _, err = _run(capsys, ["search", "--images", tmp_path, "--query", "x", "--index", tmp_path / "i.bin"])
    assert code == 2 and "expected a .npy file name" in err
    code, _, err = _run(capsys, ["search", "--images", tmp_path, "--query-file", tmp_path / "q.txt"])
    assert code == 2 and "q.txt: query file not found" in err
