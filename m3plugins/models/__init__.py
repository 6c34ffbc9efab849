"""Models; importing this module registers them into MMSeg's MODELS.

One package per model family, each holding its backbone, neck, heads,
segmentor, losses and the layers only it uses: :mod:`.spectralmamba`,
:mod:`.m3amba` and :mod:`.mobanet`. :mod:`.foundation` holds the frozen
foundation-model wrapper that M3amba and MoBaNet share;
:mod:`.data_preprocessors` the multimodal data preprocessor that owns the
modality layout (and MoBaNet's MCRM); :mod:`.losses` the losses the
families share.
"""
from . import (
    data_preprocessors,
    foundation,
    losses,
    m3amba,
    mobanet,
    spectralmamba,
)

__all__ = ['data_preprocessors', 'foundation', 'losses', 'm3amba',
           'mobanet', 'spectralmamba']
