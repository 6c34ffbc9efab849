"""Registered components; importing this module registers them."""
from .data_contract_check_hook import DataContractCheckHook  # noqa: F401
from .hsi_class_map_hook import HSIClassMapHook  # noqa: F401
from .rng_state_checkpoint_hook import RNGStateCheckpointHook  # noqa: F401
