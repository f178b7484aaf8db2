"""biaxial-jax: the biaxial LSTM polyphonic music model (Johnson 2015) in JAX."""

from biaxial_jax.errors import BiaxialError, ConfigError, GenerationError
from biaxial_jax.generation import Composer, Controls, Generation, Request, load_checkpoint
from biaxial_jax.music.batches import Batch, piece_batches, training_batch
from biaxial_jax.music.datasets import Dataset, DatasetError, load_dataset
from biaxial_jax.music.melodies import top_voice
from biaxial_jax.music.midi import read_midi, read_midi_with_stats, write_midi
from biaxial_jax.music.notation import to_score, write_musicxml
from biaxial_jax.music.piece import (Grid, Key, MidiReadError, Piece, ReadStats, Tempo, TimeSignature,
                                     canonical_roll)
from biaxial_jax.music.scores import read_piece

__version__ = '0.1.0'

__all__ = [
    'Batch', 'BiaxialError', 'Composer', 'ConfigError', 'Controls', 'Dataset', 'DatasetError', 'Generation',
    'GenerationError', 'Grid', 'Key', 'MidiReadError', 'Piece', 'ReadStats', 'Request', 'Tempo', 'TimeSignature',
    'canonical_roll', 'load_checkpoint', 'load_dataset', 'piece_batches', 'read_midi', 'read_midi_with_stats',
    'read_piece', 'to_score', 'top_voice', 'training_batch', 'write_midi', 'write_musicxml',
]
