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
from .multimodal_seg_data_preprocessor import (
    MultimodalSegDataPreProcessor,
    modality_channels_for_model,
    model_config_modality_channels,
    with_part_value,
)

__all__ = [
    'ModalityConditionalRandomMasking',
    'MultimodalSegDataPreProcessor',
    'model_config_modality_channels',
    'modality_channels_for_model',
    'sample_rectangle',
    'with_part_value',
]
