"""The frozen foundation model (a ViT tower) shared by M3amba and MoBaNet.

Both M3amba (Cao et al., arXiv 2503.06446) and MoBaNet (Li et al., arXiv
2603.17705) freeze a pretrained vision transformer and train small modules
around it. :class:`FrozenFoundationModel` builds that tower from open_clip or
timm, loads its weights from a tag, a local file or nothing, and freezes it.
Checkpoints may leave out a tower that comes from a named source
(:func:`leave_out_frozen_weights`); the tower re-attaches it on load.
"""
from .frozen_foundation_model import (
    FrozenFoundationModel,
    PretrainedWeightsUnavailableError,
    load_state_dict_file,
)
from .frozen_weights_source import (
    FrozenWeightsSource,
    FrozenWeightsSourceError,
    tensors_sha256,
)
from .slim_checkpoints import frozen_towers, leave_out_frozen_weights

__all__ = [
    'FrozenFoundationModel',
    'PretrainedWeightsUnavailableError',
    'load_state_dict_file',
    'FrozenWeightsSource',
    'FrozenWeightsSourceError',
    'tensors_sha256',
    'frozen_towers',
    'leave_out_frozen_weights',
]
