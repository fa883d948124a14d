"""Sub-commands that use a trained model (predict, search, tag), one module each, kept out of ``cli.py``."""
