"""MoBaNet segmentor: fused UPerNet head plus hard-pixel auxiliary heads.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet).
"""
import math
from collections.abc import Sequence

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix
from torch import Tensor, nn

from m3plugins.utils.modalities import (
    ModalityLayout,
    ordered_modality_channels,
    split_modalities,
)

from .hard_pixel_targets import hard_pixel_targets


@MODELS.register_module()
class MoBaNetSegmentor(EncoderDecoder):
    """EncoderDecoder for MoBaNet with hard-pixel aux heads and a modality
    switch.

    * The decode head (UPerHead, 64 channels) reads the fused maps of the
      neck; auxiliary heads (:class:`MoBaNetAuxHead`, the official
      3x3 conv-BN-ReLU6 256, dropout 0.1, bias-free 1x1 conv; MMSeg's
      ``FCNHead`` also works) read the stage-1 optical and DSM maps (``in_index`` into
      the neck output, see
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
    * ``missing_modality`` (a modality name, or a list of names) zeroes that
      modality's channels of the normalised model input in every forward
      pass, for robustness tests:
      ``--cfg-options model.missing_modality=dsm``. The value 0 after the
      data preprocessor's normalisation is the same "zeroed" input MCRM
      produces during training. Inputs without the missing modality's
      channels at all (a 3-channel optical batch with
      ``missing_modality='dsm'``) get zero channels in its place, so data
      without a DSM trains and tests the same model
      (``configs/mobanet/mobanet_potsdam_clips_optical_only.py``).

    Args:
        modality_channels: Modality -> channels of the stacked input in
            order (the backbone's layout), as (name, channels) pairs or a
            dict.
        missing_modality: ``None``, a modality name or a list of names.
        aux_hard_pixels_only: Train auxiliary heads on hard pixels only.
        **kwargs: :class:`mmseg.models.EncoderDecoder` arguments.
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
                 modality_channels: ModalityLayout = (('optical', 3), ('dsm', 1)),
                 missing_modality=None,
                 aux_hard_pixels_only: bool = True,
                 **kwargs):
        super().__init__(backbone=backbone, decode_head=decode_head,
                         neck=neck, auxiliary_head=auxiliary_head, **kwargs)
        self.modality_channels = ordered_modality_channels(
            modality_channels)
        self.aux_hard_pixels_only = aux_hard_pixels_only
        self.missing_modality = missing_modality

    # ----------------------------------------------------- modality switch
    @property
    def missing_modality(self) -> list[str]:
        """Names of the modalities zeroed in every forward pass."""
        return list(self._missing_modality)

    @missing_modality.setter
    def missing_modality(self, value) -> None:
        if value is None:
            names = []
        elif isinstance(value, str):
            names = [value]
        else:
            names = list(value)
        unknown = [n for n in names if n not in self.modality_channels]
        if unknown:
            raise ValueError(
                f'missing_modality {unknown} not among the modalities '
                f'{list(self.modality_channels)}.')
        self._missing_modality = names

    def remove_missing_modalities(self, inputs: Tensor) -> Tensor:
        """Zero the channels of :attr:`missing_modality` (B, C, H, W).

        A batch that holds only the present modalities' channels (e.g. the
        3 optical channels with ``missing_modality='dsm'``: data without a
        DSM) gets zero channels inserted where the missing ones belong.
        """
        if not self._missing_modality:
            return inputs
        present = sum(channels for name, channels in
                      self.modality_channels.items()
                      if name not in self._missing_modality)
        if inputs.dim() == 4 and inputs.shape[1] == present:
            parts = iter(torch.split(inputs, [
                channels for name, channels in self.modality_channels.items()
                if name not in self._missing_modality], dim=1))
            return torch.cat([
                inputs.new_zeros(inputs.shape[0], channels,
                                 *inputs.shape[2:])
                if name in self._missing_modality else next(parts)
                for name, channels in self.modality_channels.items()], dim=1)
        split_modalities(inputs, self.modality_channels, check_finite=False)
        inputs = inputs.clone()
        start = 0
        for name, channels in self.modality_channels.items():
            if name in self._missing_modality:
                inputs[:, start:start + channels] = 0
            start += channels
        return inputs

    # ------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        """Neck output (fused, optical, DSM maps per stage).

        Raises:
            ModalityError: Wrong channel count or NaN / Inf (names the
                modality).
        """
        inputs = self.remove_missing_modalities(inputs)
        return super().extract_feat(inputs)

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
