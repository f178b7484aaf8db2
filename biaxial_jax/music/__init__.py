"""The music layer: plain numpy, mido and music21; no JAX in here."""
