"""Analysis of music, generated and real, through the same code: harmonic and voice-leading statistics of the
written score (`harmony`), musical statistics of rolls (`metrics`), a style classifier that shares nothing with the
generator (`style_classifier`), studies of harmonizations, continuations and constraint joins (`studies`), and the
tables `experiments/evaluate.py` reports them in (`reports`)."""
