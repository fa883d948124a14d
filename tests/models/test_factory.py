"""Model creation: real pretrained weights offline, zero-shot start, save/load, open_clip paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssclip.models import create_clip, imagenet_efficientnet_lite0, load_clip, save_clip


def test_imagenet_head_predicts_chelsea_as_egyptian_cat(default_bundle):
    skimage_data = pytest.importorskip("skimage.data")
    net = imagenet_efficientnet_lite0()
    x = default_bundle.eval_transform(Image.fromarray(skimage_data.chelsea())).unsqueeze(0)
    with torch.no_grad():
        assert int(net(x).argmax()) == 285  # "Egyptian cat": the packaged ImageNet weights really loaded
        coffee = default_bundle.eval_transform(Image.fromarray(skimage_data.coffee())).unsqueeze(0)
        assert int(net(coffee).argmax()) == 967  # espresso


def test_text_tower_ranks_paraphrase_above_unrelated(default_bundle):
    m, tok = default_bundle.model.eval(), default_bundle.tokenizer
    with torch.no_grad():
        e = m.encode_text(
            tok(
                [
                    "many cars are parked in the lot",
                    "a parking lot full of vehicles",
                    "the cat sleeps on the sofa",
                ]
            ),
            normalize=True,
        )
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_offline_creation_needs_no_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    bundle = create_clip(zeroshot_init="random")
    assert bundle.tokenizer(["a road"]).shape[0] == 1


ZS_NAMES = [
    "a photo of a cat.",
    "a photo of a cup of coffee.",
    "a photo of a rocket.",
    "a photo of a dog.",
    "a photo of a car.",
]


def _zeroshot_predictions(bundle) -> list[int]:
    skimage_data = pytest.importorskip("skimage.data")
    images = [skimage_data.chelsea(), skimage_data.coffee(), skimage_data.rocket()]
    x = torch.stack([bundle.eval_transform(Image.fromarray(i)) for i in images])
    m = bundle.model.eval()
    with torch.no_grad():
        sims = m.encode_image(x, normalize=True) @ m.encode_text(bundle.tokenizer(ZS_NAMES), normalize=True).T
    return sims.argmax(1).tolist()


def test_softmax_bridge_classifies_natural_images_zero_shot(tmp_path):
    bundle = create_clip(zeroshot_init="imagenet-bridge-softmax")
    assert _zeroshot_predictions(bundle) == [0, 1, 2]  # cat, coffee, rocket before any training
    again = load_clip(save_clip(bundle, tmp_path / "softmax"))
    assert _zeroshot_predictions(again) == [0, 1, 2]


def test_linear_bridge_beats_random_projection(default_bundle):
    torch.manual_seed(0)
    random_start = create_clip(zeroshot_init="random")
    correct = sum(p == t for p, t in zip(_zeroshot_predictions(default_bundle), [0, 1, 2], strict=True))
    correct_random = sum(p == t for p, t in zip(_zeroshot_predictions(random_start), [0, 1, 2], strict=True))
    assert correct >= 2 > correct_random  # measured: coffee and rocket right, the cat taken for coffee


def test_save_load_roundtrip(default_bundle, tmp_path):
    folder = save_clip(default_bundle, tmp_path / "model")
    x = torch.randn(2, 3, 224, 224)
    texts = ["a harbor with boats", "dense residential area"]
    ref_model = default_bundle.model.eval()
    with torch.no_grad():
        ref_i, ref_t = ref_model.encode_image(x), ref_model.encode_text(default_bundle.tokenizer(texts))
        again = load_clip(folder)
        again.model.eval()
        assert torch.equal(again.model.encode_image(x), ref_i)
        assert torch.equal(again.model.encode_text(again.tokenizer(texts)), ref_t)
    via_name = create_clip(f"local-dir:{folder}")
    assert via_name.name == default_bundle.name


def test_open_clip_architectures_and_local_checkpoint(tiny_configs, tmp_path):
    for name in tiny_configs:
        bundle = create_clip(name)
        ckpt = tmp_path / f"{name}.pt"
        torch.save({"state_dict": bundle.model.state_dict()}, ckpt)
        again = create_clip(name, str(ckpt))
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            assert torch.allclose(bundle.model.eval().encode_image(x), again.model.eval().encode_image(x))
        assert bundle.tokenizer(["a road"]).shape == (1, 16)


def test_unknown_pretrained_tag_error_is_clear(tiny_configs):
    with pytest.raises(RuntimeError, match="offline default"):
        create_clip("tiny-vit-test", "no-such-tag")


def test_bad_saved_folder_error_names_file(tmp_path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"nothing": 1}))
    with pytest.raises(ValueError, match="model_cfg"):
        load_clip(tmp_path)


PLAIN_OPEN_CLIP = """
import sys, numpy, open_clip, torch
from PIL import Image
folder, out = sys.argv[1], sys.argv[2]
model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + folder)
tokenizer = open_clip.get_tokenizer("local-dir:" + folder)
model.eval()
with torch.no_grad():
    image = model.encode_image(preprocess(Image.new("RGB", (256, 256), (90, 140, 60)))[None])
    text = model.encode_text(tokenizer(["a harbor with boats", "dense residential area"]))
numpy.savez(out, image=image.numpy(), text=text.numpy())
"""


def _hub_cache_with_config(cache, hub_id: str, config: Path) -> None:
    """A Hugging Face hub cache holding one file of ``hub_id`` (huggingface_hub's documented layout): what a
    machine has once it fetched the tower's config.json."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    shutil.copyfile(config, repo / "snapshots" / revision / "config.json")


def test_saved_folder_travels_to_another_place_in_ssclip_and_plain_open_clip(default_bundle, tmp_path):
    original = save_clip(default_bundle, tmp_path / "here" / "model")
    saved = json.loads((original / "open_clip_config.json").read_text())["model_cfg"]["text_cfg"]
    assert saved["hf_model_name"] == "sentence-transformers/all-MiniLM-L6-v2"  # no path of this machine
    assert str(tmp_path) not in (original / "open_clip_config.json").read_text()
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(original, moved)
    config = tmp_path / "config.json"
    shutil.copyfile(original / "config.json", config)
    shutil.rmtree(tmp_path / "here")

    texts = ["a harbor with boats", "dense residential area"]
    picture = Image.new("RGB", (256, 256), (90, 140, 60))
    with torch.no_grad():
        ref_image = default_bundle.model.eval().encode_image(default_bundle.eval_transform(picture)[None])
        ref_text = default_bundle.model.encode_text(default_bundle.tokenizer(texts))
        again = load_clip(moved)
        again.model.eval()
        assert torch.equal(again.model.encode_image(again.eval_transform(picture)[None]), ref_image)
        assert torch.equal(again.model.encode_text(again.tokenizer(texts)), ref_text)
    # Plain open_clip, in a fresh process that never saw the original folder nor the offline wheel's path.
    _hub_cache_with_config(tmp_path / "hub", "sentence-transformers/all-MiniLM-L6-v2", config)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "plain.npz"
    subprocess.run(
        [sys.executable, "-c", PLAIN_OPEN_CLIP, str(moved), str(out)], env=env, cwd=tmp_path, check=True, timeout=300
    )
    plain = np.load(out)
    assert np.allclose(plain["image"], ref_image.numpy(), atol=1e-5)
    assert np.allclose(plain["text"], ref_text.numpy(), atol=1e-5)
