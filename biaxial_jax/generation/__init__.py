"""Generation: the compiled SMC sampler (`sampler`, `smc`), what conditions it (`constraints`), and the user-facing
`Composer` (`composer`)."""

from biaxial_jax.generation.composer import Composer, Generation, load_checkpoint
from biaxial_jax.generation.constraints import Constraints, GenerationError

__all__ = ['Composer', 'Constraints', 'Generation', 'GenerationError', 'load_checkpoint']
