"""Plain data structures shared by datasets, models and inference."""
from .data_contract import (
    CONTRACT_METAINFO_KEYS,
    NORMALIZATION_SCOPES,
    DataContract,
    ModalitySpec,
)

__all__ = [
    'DataContract', 'ModalitySpec', 'NORMALIZATION_SCOPES',
    'CONTRACT_METAINFO_KEYS'
]
