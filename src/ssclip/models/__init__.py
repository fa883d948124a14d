"""Models: creation, saving/loading, dense features and the trainable view used by both regimes."""

from ssclip.models.dense import DenseFeatures, dense_features, tower_adapter
from ssclip.models.factory import (
    DEFAULT_MODEL,
    CLIPBundle,
    create_clip,
    imagenet_efficientnet_lite0,
    list_models,
    load_clip,
    save_clip,
)
from ssclip.models.trainable import TrainableCLIP

__all__ = [
    "DEFAULT_MODEL",
    "CLIPBundle",
    "DenseFeatures",
    "TrainableCLIP",
    "create_clip",
    "dense_features",
    "imagenet_efficientnet_lite0",
    "list_models",
    "load_clip",
    "save_clip",
    "tower_adapter",
]
