"""MoBaNet's MCRM as a hook for any MMSeg config.

Modality-Conditional Random Masking (MoBaNet, Li et al., arXiv 2603.17705;
official code sauryeo/MoBaNet) zeroes rectangles of one modality in a
fraction of each training batch. :class:`MultimodalSegDataPreProcessor`
does it with its ``mcrm`` option; :class:`ModalityMaskingHook` brings the
same masking to a config that keeps MMSeg's own ``SegDataPreProcessor`` (or
any data preprocessor with per-channel ``mean`` / ``std``)::

    custom_hooks = [dict(type='ModalityMaskingHook',
                         modality_channels=[('optical', 3), ('dsm', 1)],
                         ratio=0.25, area_range=(0.1, 0.3))]

Before each training iteration it masks the raw batch with
:class:`~m3plugins.models.data_preprocessors.
ModalityConditionalRandomMasking` (the one implementation both use),
writing the data preprocessor's per-channel mean into the rectangles: after
the preprocessor's ``(x - mean) / std`` they hold exactly 0, the official
zeroing of the normalised input. With the same ``seed`` and batches, the
hook and the preprocessor's ``mcrm`` mask the same rectangles.
"""
from collections.abc import Sequence

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from m3plugins.models.data_preprocessors import (
    ModalityConditionalRandomMasking,
)
from m3plugins.models.layout import model_modality_channels
from m3plugins.utils.modalities import ModalityLayout

__all__ = ['ModalityMaskingHook']


@HOOKS.register_module()
class ModalityMaskingHook(Hook):
    """Apply MCRM to every training batch before the data preprocessor.

    Args:
        modality_channels: Modality -> channels of the stacked input, in
            order, as ``(name, C)`` pairs or a mapping. None: the model's
            data preprocessor's (:mod:`m3plugins.models.layout`).
        **mcrm: :class:`ModalityConditionalRandomMasking` settings
            (``ratio``, ``area_range``, ``aspect_range``, ``num_blocks``,
            ``modalities``, ``seed``).

    Raises:
        ValueError: At the first iteration, if no layout is known, the
            data preprocessor swaps channels (``bgr_to_rgb``), or a sample
            has another channel count.
    """

    priority = 'NORMAL'

    def __init__(self, modality_channels: ModalityLayout | None = None,
                 **mcrm) -> None:
        self.modality_channels = modality_channels
        self.mcrm_settings = mcrm
        self.masking: ModalityConditionalRandomMasking | None = None

    def _masking(self, model) -> ModalityConditionalRandomMasking:
        if self.masking is None:
            layout = self.modality_channels or model_modality_channels(model)
            if not layout:
                raise ValueError(
                    'ModalityMaskingHook needs the modality layout: give '
                    "modality_channels=[('optical', 3), ('dsm', 1)] (or use "
                    "a data preprocessor that declares it).")
            self.masking = ModalityConditionalRandomMasking(
                modality_channels=layout, **self.mcrm_settings)
        return self.masking

    @staticmethod
    def _fill(preprocessor, channels: int) -> torch.Tensor | None:
        """Raw values that the preprocessor normalises to 0 (its mean)."""
        if getattr(preprocessor, 'channel_conversion', False):
            raise ValueError(
                'ModalityMaskingHook masks the stacked modalities in their '
                'order; a data preprocessor that swaps channels '
                '(bgr_to_rgb / rgb_to_bgr) would move them. Set it False.')
        if not getattr(preprocessor, '_enable_normalize', False):
            return None  # no normalisation: zero stays zero
        mean = preprocessor.mean.detach().flatten().cpu().float()
        return mean.expand(channels) if mean.numel() == 1 else mean

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: dict | None = None) -> None:
        """Mask a fraction of the batch's samples in place (training only).

        Args:
            runner: The runner (its model gives the layout and the mean).
            batch_idx: Index of the batch in the epoch.
            data_batch: ``inputs`` (list of (C, H, W)) and ``data_samples``.
        """
        if not data_batch or not data_batch.get('inputs'):
            return
        model = runner.model.module if hasattr(runner.model, 'module') \
            else runner.model
        masking = self._masking(model)
        inputs: Sequence[torch.Tensor] = data_batch['inputs']
        channels = sum(masking.modality_channels.values())
        fill = self._fill(getattr(model, 'data_preprocessor', None),
                          channels)
        floats = [image.float() for image in inputs]
        masked = masking(floats, data_batch.get('data_samples'), fill)
        for index in masked:
            inputs[index] = floats[index]
