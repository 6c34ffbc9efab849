"""Data preprocessors; importing this module registers them.

:class:`MultimodalSegDataPreProcessor` owns a model's modality layout,
normalises per modality, zeroes missing modalities and applies MoBaNet's
MCRM (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) as a
training-time batch augmentation.
"""
from .modality_conditional_random_masking import (
    ModalityConditionalRandomMasking,
    sample_rectangle,
)
from .multimodal_seg_data_preprocessor import MultimodalSegDataPreProcessor

__all__ = [
    'ModalityConditionalRandomMasking',
    'MultimodalSegDataPreProcessor',
    'sample_rectangle',
]
