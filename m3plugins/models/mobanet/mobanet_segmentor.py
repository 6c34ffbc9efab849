"""MoBaNet segmentor: fused UPerNet head plus hard-pixel auxiliary heads.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet).
"""
import math
from collections.abc import Sequence

from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor, nn

from ..layout import layout_for_segmentor, with_part_value
from .hard_pixel_targets import hard_pixel_targets


@MODELS.register_module()
class MoBaNetSegmentor(EncoderDecoder):
    """EncoderDecoder for MoBaNet with hard-pixel auxiliary heads.

    * The decode head (UPerHead, 64 channels) reads the fused maps of the
      neck; auxiliary heads (:class:`MoBaNetAuxHead`, the official
      3x3 conv-BN-ReLU6 256, dropout 0.1, bias-free 1x1 conv; MMSeg's
      ``FCNHead`` also works) read the stage-1 optical and DSM maps
      (``in_index`` into the neck output, see
      :class:`~m3plugins.models.mobanet.DifferenceGuidedGatedFusion`).
    * With ``aux_hard_pixels_only`` the auxiliary targets keep only the
      pixels the main head predicts wrongly in the same forward pass (its
      logits detached); the others become ``ignore_index``. The total loss
      is CE(main) + w * (CE(aux_rgb) + CE(aux_dsm)); w = 0.01 is set by each
      auxiliary head's ``loss_decode.loss_weight``. Use
      ``avg_non_ignore=True`` there: a batch without hard pixels then gives
      an aux loss of 0.
    * The backbone works on inputs padded to the patch multiple; logits are
      resized to the padded size and cropped back to the input, so pixels
      and features stay aligned (in training, whole and slide inference).
    * The modality layout is the data preprocessor's
      (:class:`~m3plugins.models.data_preprocessors.
      MultimodalSegDataPreProcessor`, declared once per config) and is
      passed on to the backbone. Missing-modality evaluation and MCRM
      live in that preprocessor too (``--cfg-options
      model.data_preprocessor.missing_modalities="['dsm']"``).

    Args:
        aux_hard_pixels_only: Train auxiliary heads on hard pixels only.
        **kwargs: :class:`mmseg.models.EncoderDecoder` arguments;
            ``data_preprocessor`` must declare ``modality_channels``.
    """

    def __init__(self,
                 backbone: dict = dict(type='MoBaNetBackbone'),
                 decode_head: dict = dict(
                     type='UPerHead', in_channels=[256, 256, 256, 256],
                     in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
                     channels=64, dropout_ratio=0.1, num_classes=6,
                     norm_cfg=dict(type='BN', requires_grad=True),
                     align_corners=False),
                 neck: dict | None = dict(
                     type='DifferenceGuidedGatedFusion'),
                 auxiliary_head=None,
                 aux_hard_pixels_only: bool = True,
                 **kwargs):
        layout = layout_for_segmentor(kwargs.get('data_preprocessor'),
                                      'MoBaNetSegmentor')
        backbone = with_part_value(backbone, 'modality_channels', layout,
                                   'backbone')
        super().__init__(backbone=backbone, decode_head=decode_head,
                         neck=neck, auxiliary_head=auxiliary_head, **kwargs)
        self.modality_channels = layout
        self.aux_hard_pixels_only = aux_hard_pixels_only

    # ------------------------------------------------------------ logits
    def _aligned_logits(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        """Resize logits of the padded grid to the padded input, then crop."""
        patch = self.backbone.patch_size
        padded = (math.ceil(size[0] / patch) * patch,
                  math.ceil(size[1] / patch) * patch)
        logits = resize(logits, size=padded, mode='bilinear',
                        align_corners=self.align_corners)
        return logits[..., :size[0], :size[1]]

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: list[dict]) -> Tensor:
        """Main-head logits (B, K, H, W) at the input size."""
        feats = self.extract_feat(inputs)
        return self._aligned_logits(self.decode_head.forward(feats),
                                    inputs.shape[-2:])

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        return self.encode_decode(inputs, None)

    # ---------------------------------------------------------------- loss
    def _hard_pixel_samples(self, logits: Tensor,
                            data_samples: list[SegDataSample]
                            ) -> list[SegDataSample]:
        labels = self.decode_head._stack_batch_gt(data_samples)
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = resize(logits, size=labels.shape[-2:], mode='bilinear',
                            align_corners=self.align_corners)
        hard = hard_pixel_targets(logits, labels,
                                  self.decode_head.ignore_index)
        samples = []
        for sample, target in zip(data_samples, hard):
            new = SegDataSample(metainfo=sample.metainfo)
            new.gt_sem_seg = PixelData(data=target)
            samples.append(new)
        return samples

    def loss(self, inputs: Tensor,
             data_samples: list[SegDataSample]) -> dict[str, Tensor]:
        """CE(main) + auxiliary CE on hard pixels (weights in the heads)."""
        feats = self.extract_feat(inputs)
        size = inputs.shape[-2:]
        logits = self._aligned_logits(self.decode_head.forward(feats), size)
        losses = add_prefix(
            self.decode_head.loss_by_feat(logits, data_samples), 'decode')
        if not self.with_auxiliary_head:
            return losses
        aux_samples = data_samples
        if self.aux_hard_pixels_only:
            aux_samples = self._hard_pixel_samples(logits.detach(),
                                                   data_samples)
        heads = self.auxiliary_head
        if isinstance(heads, nn.ModuleList):
            named = [(f'aux_{i}', head) for i, head in enumerate(heads)]
        else:
            named = [('aux', heads)]
        for prefix, head in named:
            aux_logits = self._aligned_logits(head.forward(feats), size)
            losses.update(
                add_prefix(head.loss_by_feat(aux_logits, aux_samples),
                           prefix))
        return losses


__all__ = ['MoBaNetSegmentor']
