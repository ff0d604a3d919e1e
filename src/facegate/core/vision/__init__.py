"""Pixels → faces → embeddings: decoding, detection, alignment, quality and embedding."""
