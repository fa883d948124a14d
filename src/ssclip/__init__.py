"""ssclip: semi-supervised adaptation of CLIP to specialist domains (S-CLIP and CSA)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_tagger"]


def __getattr__(name: str) -> Any:
    # Lazy: `import ssclip` stays light (no torch), `ssclip.load_tagger` imports what it needs when first used.
    if name == "load_tagger":
        from ssclip.infer.tagger import load_tagger

        return load_tagger
    raise AttributeError(f"module 'ssclip' has no attribute {name!r}")
