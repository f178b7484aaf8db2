"""Generation: the compiled SMC sampler (`sampler`, `smc`), what conditions it (`constraints`), and the user-facing
`Composer` (`composer`)."""

from biaxial_jax.generation.composer import Composer, Generation, load_checkpoint
from biaxial_jax.errors import GenerationError
from biaxial_jax.generation.constraints import Constraints
from biaxial_jax.generation.request import Controls, Request

__all__ = ['Composer', 'Constraints', 'Controls', 'Generation', 'GenerationError', 'Request', 'load_checkpoint']
