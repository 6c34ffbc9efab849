"""M3amba as an MMSeg EncoderDecoder (arXiv 2503.06446)."""
from collections.abc import Mapping

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptSampleList
from torch import Tensor

from m3plugins.utils.modalities import (
    ModalityError,
    check_modality_layout,
)

from ..layout import layout_for_segmentor, with_part_value


@MODELS.register_module()
class M3amba(EncoderDecoder):
    """M3amba: CLIP-driven Mamba model for multi-modal classification.

    Cao et al., "M3amba: CLIP-driven Mamba Model for Multi-modal Remote
    Sensing Classification", arXiv 2503.06446 (official code
    kaka-Cao/M3amba). MMSeg's :class:`EncoderDecoder` with

    * backbone :class:`M3ambaCLIPAdapterBackbone` (frozen CLIP encoder,
      trainable modality adapters; main tokens and the initial fused stream),
    * neck :class:`M3ambaFusionNeck` (Cross-SS2D fusion),
    * decode head :class:`M3ambaHead` (three per-pixel heads, cross-entropy
      and cosine consistency),

    so training, ``predict``, whole / slide inference, ``tools/test.py`` and
    the metrics are MMSeg's own. The modality layout is declared once, in
    the data preprocessor (:class:`~m3plugins.models.data_preprocessors.
    MultimodalSegDataPreProcessor`), and passed on to the backbone
    (``modality_channels``), the neck (``num_modalities``) and the head
    (``modality_names``); a conflicting value in a sub-config is an error
    naming both.

    Inputs are the usual channel-stacked batch (B, sum C_m, H, W) (see
    :mod:`m3plugins.utils.modalities`). Called directly, the model also
    accepts a mapping modality name -> (B, C_m, H, W): the modalities are
    checked (names, batch and spatial sizes, each named in the error) and
    stacked in ``modality_channels`` order.

    Defaults build the paper's model (width 384, 9 layers, 15 classes of
    Houston2013) with a randomly initialised CLIP ViT-B-32; the configs
    under ``configs/m3amba/`` set every value.

    Args:
        backbone, neck, decode_head: Configs of the three parts. Default:
            the paper's (see above).
        test_cfg: MMSeg test config. Defaults to ``dict(mode='whole')``.
        **kwargs: Further :class:`EncoderDecoder` arguments (``train_cfg``,
            ``data_preprocessor``, ``init_cfg``, ...).
    """

    def __init__(self,
                 backbone: OptConfigType = None,
                 neck: OptConfigType = None,
                 decode_head: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 **kwargs) -> None:
        backbone = backbone or dict(type='M3ambaCLIPAdapterBackbone')
        neck = neck or dict(type='M3ambaFusionNeck')
        decode_head = decode_head or dict(
            type='M3ambaHead', in_channels=384, num_classes=15)
        test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
        channels = layout_for_segmentor(kwargs.get('data_preprocessor'),
                                        'M3amba')
        if len(channels) < 2:
            raise ValueError('M3amba fuses at least two modalities, got '
                             f'{list(channels.items())!r}.')
        backbone = with_part_value(backbone, 'modality_channels', channels,
                                   'backbone')
        neck = with_part_value(neck, 'num_modalities', len(channels),
                               'neck')
        decode_head = with_part_value(decode_head, 'modality_names',
                                      tuple(channels), 'decode_head')
        super().__init__(
            backbone=backbone,
            neck=neck,
            decode_head=decode_head,
            test_cfg=test_cfg,
            **kwargs)
        self.modality_channels = channels

    def stack_modality_batch(self, modalities: Mapping[str, Tensor]) -> Tensor:
        """Stack a mapping name -> (B, C_m, H, W) into (B, sum C_m, H, W).

        Raises:
            ModalityError: Missing or unknown modality names, a tensor that
                is not (B, C, H, W), a wrong channel count, or modalities of
                different batch or spatial sizes (each named).
        """
        expected = list(self.modality_channels)
        missing = [n for n in expected if n not in modalities]
        unknown = [n for n in modalities if n not in self.modality_channels]
        if missing or unknown:
            raise ModalityError(
                f'The model expects modalities {expected}; missing '
                f'{missing}, unknown {unknown}.')
        for name in expected:
            tensor = modalities[name]
            if not isinstance(tensor, Tensor) or tensor.dim() != 4:
                raise ModalityError(
                    f'Modality {name!r} must be a (B, C, H, W) tensor, got '
                    f'{getattr(tensor, "shape", type(tensor))}.')
        check_modality_layout(
            [(name, modalities[name].shape[1]) for name in expected],
            self.modality_channels)
        sizes = {n: tuple(modalities[n].shape[-2:]) for n in expected}
        batches = {n: modalities[n].shape[0] for n in expected}
        if len(set(sizes.values())) > 1 or len(set(batches.values())) > 1:
            listing = ', '.join(
                f'{n} {batches[n]}x{sizes[n][0]}x{sizes[n][1]}'
                for n in expected)
            raise ModalityError('Modalities must share one batch and spatial '
                                f'size (B x H x W), got {listing}.')
        return torch.cat([modalities[n] for n in expected], dim=1)

    def forward(self,
                inputs: Tensor | Mapping[str, Tensor],
                data_samples: OptSampleList = None,
                mode: str = 'tensor'):
        """MMSeg's forward; ``inputs`` may also be a modality mapping."""
        if isinstance(inputs, Mapping):
            inputs = self.stack_modality_batch(inputs)
        return super().forward(inputs, data_samples, mode)
