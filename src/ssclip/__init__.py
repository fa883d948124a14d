"""ssclip: semi-supervised adaptation of CLIP to specialist domains (S-CLIP and CSA)."""

__version__ = "0.1.0"
