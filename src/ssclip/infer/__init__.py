"""Using a trained model: zero-shot prediction, an embedding index for search, saved multi-label taggers."""
