"""A data preprocessor that owns the modality layout of a model.

Multimodal models of m3plugins read one channel-stacked batch
``(B, sum C_m, H, W)`` (see :mod:`m3plugins.utils.modalities`).
:class:`MultimodalSegDataPreProcessor` is where a config declares that
layout once; the segmentors (:class:`~m3plugins.models.mobanet.
MoBaNetSegmentor`, :class:`~m3plugins.models.m3amba.M3amba`,
:class:`~m3plugins.models.spectralmamba.SparseLabelEncoderDecoder`) take it
from there and hand it to the backbone, neck and heads
(:mod:`m3plugins.models.layout`). On top of
MMSeg's ``SegDataPreProcessor`` (padding, stacking, test-time padding,
which it reuses) it normalises per modality, zeroes missing modalities and
applies MoBaNet's MCRM (Li et al., arXiv 2603.17705; official code
sauryeo/MoBaNet) in training.
"""
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from numbers import Number

import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from torch import Tensor

from m3plugins.utils.modalities import (
    ModalityError,
    ModalityLayout,
    format_modality_layout,
    ordered_modality_channels,
)

from .modality_conditional_random_masking import (
    ModalityConditionalRandomMasking,
)

__all__ = ['MultimodalSegDataPreProcessor']

Statistics = Sequence[Number] | Mapping[str, Number | Sequence[Number]]


def _per_channel(values: Statistics | None, layout: 'OrderedDict[str, int]',
                 neutral: float, label: str) -> list[float] | None:
    """Flatten per-modality or per-channel statistics to per-channel."""
    if values is None:
        return None
    total = sum(layout.values())
    if not isinstance(values, Mapping):
        values = [float(v) for v in values]
        if len(values) != total:
            raise ValueError(
                f'{label} has {len(values)} values but the modality layout '
                f'({format_modality_layout(layout)}) has {total} channels; '
                f'give one per channel or a dict modality -> values.')
        return values
    unknown = [name for name in values if name not in layout]
    if unknown:
        raise ValueError(f'{label} names modalities {unknown} that are not '
                         f'in the layout {list(layout)}.')
    flat = []
    for name, channels in layout.items():
        given = values.get(name)
        if given is None:
            flat += [neutral] * channels
        elif isinstance(given, Number):
            flat += [float(given)] * channels
        elif len(given) == channels:
            flat += [float(v) for v in given]
        else:
            raise ValueError(f'{label}[{name!r}] has {len(given)} values, '
                             f'{name} has {channels} channels.')
    return flat


@MODELS.register_module()
class MultimodalSegDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` for channel-stacked multimodal inputs.

    Per sample ``(C, H, W)``, in this order:

    1. conversion to float and normalisation ``(x - mean) / std`` per
       channel (statistics per channel or per modality);
    2. ``missing_modalities`` set to 0 (every mode: the input MCRM trains
       with). A sample that holds only the other modalities' channels
       (optical-only data, 3 channels for an optical + DSM layout) is
       normalised with their statistics and gets zero channels inserted
       where the missing modalities belong;
    3. in training only, MCRM (:class:`ModalityConditionalRandomMasking`)
       zeroes rectangles of one modality in a fraction of the samples;
    4. MMSeg's padding and stacking to ``(B, sum C_m, H', W')`` (and its
       ``batch_augments``, after stacking) exactly as
       :class:`mmseg.models.SegDataPreProcessor`.

    ``modality_channels`` and ``missing_modalities`` are public attributes:
    segmentors build their parts from the first
    (:func:`m3plugins.models.layout.layout_for_segmentor`), checks compare
    data and model
    through both. Evaluation without a modality:
    ``--cfg-options model.data_preprocessor.missing_modalities="['dsm']"``.

    Args:
        modality_channels: Modality -> channels of the stacked input, in
            order, as ``(name, C)`` pairs (mmengine sorts dict keys when it
            dumps a config, pairs keep their order) or a mapping.
        mean: ``None`` (no normalisation), one value per stacked channel,
            or a dict modality -> value(s) (a number for all its channels
            or one per channel; modalities left out get mean 0).
        std: As ``mean`` (modalities left out get std 1); both or neither.
        missing_modalities: Names of modalities set to 0 after
            normalisation in every mode.
        mcrm: MCRM settings, keyword arguments of
            :class:`ModalityConditionalRandomMasking` except
            ``modality_channels`` (``ratio``, ``area_range``,
            ``aspect_range``, ``num_blocks``, ``modalities``, ``seed``);
            ``None`` disables it.
        **kwargs: Other :class:`SegDataPreProcessor` arguments (``size``,
            ``size_divisor``, ``pad_val``, ``seg_pad_val``,
            ``batch_augments``, ``test_cfg``). ``bgr_to_rgb`` and
            ``rgb_to_bgr`` are refused: a stacked multimodal input is no
            BGR image.

    Raises:
        ValueError: For a bad layout, statistics that do not fit it, unknown
            missing modalities or bad MCRM settings.
    """

    def __init__(self,
                 modality_channels: ModalityLayout,
                 mean: Statistics | None = None,
                 std: Statistics | None = None,
                 missing_modalities: Sequence[str] | str = (),
                 mcrm: dict | None = None,
                 **kwargs):
        if kwargs.get('bgr_to_rgb') or kwargs.get('rgb_to_bgr'):
            raise ValueError(
                f'{type(self).__name__} does not swap channels: a stacked '
                'multimodal input is no BGR image (bgr_to_rgb / rgb_to_bgr '
                'must be False).')
        layout = ordered_modality_channels(modality_channels)
        if (mean is None) != (std is None):
            raise ValueError('Give both mean and std for normalisation, or '
                             'neither.')
        super().__init__(mean=_per_channel(mean, layout, 0.0, 'mean'),
                         std=_per_channel(std, layout, 1.0, 'std'),
                         **kwargs)
        self.modality_channels = layout
        self.missing_modalities = missing_modalities
        if isinstance(mcrm, Mapping):
            mcrm = ModalityConditionalRandomMasking(
                modality_channels=layout, **mcrm)
        self.mcrm = mcrm

    # ------------------------------------------------- missing modalities
    @property
    def missing_modalities(self) -> list[str]:
        """Modalities set to 0 after normalisation, in every mode."""
        return list(self._missing_modalities)

    @missing_modalities.setter
    def missing_modalities(self, names: Sequence[str] | str | None) -> None:
        if names is None:
            names = []
        elif isinstance(names, str):
            names = [names]
        names = list(names)
        unknown = [n for n in names if n not in self.modality_channels]
        if unknown:
            raise ValueError(
                f'missing_modalities {unknown} are not among the modalities '
                f'{list(self.modality_channels)}.')
        self._missing_modalities = names

    def present_channels(self) -> Tensor:
        """(sum C_m,) bool: True on the channels of present modalities."""
        flags = []
        for name, channels in self.modality_channels.items():
            flags += [name not in self._missing_modalities] * channels
        return torch.tensor(flags, dtype=torch.bool)

    def normalize_sample(self, image: Tensor) -> Tensor:
        """Float, normalised, missing modalities zeroed: (C, H, W).

        Args:
            image: One sample, (sum C_m, H, W), or only the present
                modalities' channels when ``missing_modalities`` is set.

        Returns:
            Tensor: float (sum C_m, H, W); a new tensor whenever anything
            changes, never a view of the caller's data that is written to.

        Raises:
            ModalityError: If the channel count fits neither the layout nor
                its present modalities (with normalisation or missing
                modalities; otherwise the model reports it).
        """
        image = image.float()
        total = sum(self.modality_channels.values())
        channels = image.shape[0]
        present = self.present_channels().to(image.device)
        num_present = int(present.sum())
        if channels == total:
            if self._enable_normalize:
                image = (image - self.mean) / self.std
            if self._missing_modalities:
                image = image.clone()
                image[~present] = 0
            return image
        if not self._missing_modalities or channels != num_present:
            if not self._enable_normalize and not self._missing_modalities:
                return image
            without = f' or {num_present} without ' \
                f'{self._missing_modalities}' \
                if self._missing_modalities else ''
            raise ModalityError(
                f'Input has {channels} channels; the data preprocessor '
                f'expects {total} '
                f'({format_modality_layout(self.modality_channels)})'
                f'{without}.')
        if self._enable_normalize:
            image = (image - self.mean[present]) / self.std[present]
        full = image.new_zeros(total, *image.shape[1:])
        full[present] = image
        return full

    # ------------------------------------------------------------ forward
    @contextmanager
    def _stacking_only(self):
        """Let the parent's forward pad and stack, nothing else."""
        normalize = self._enable_normalize
        self._enable_normalize = False
        try:
            yield
        finally:
            self._enable_normalize = normalize

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise, drop missing modalities, MCRM, then pad and stack.

        Args:
            data: ``inputs`` (list of (C, H, W) or a (B, C, H, W) tensor)
                and ``data_samples`` from the dataloader.
            training: Apply MCRM and MMSeg's training-time padding.

        Returns:
            dict: ``inputs`` (B, sum C_m, H', W') and ``data_samples``.
        """
        data = self.cast_data(data)
        samples = data.get('data_samples', None)
        inputs = [self.normalize_sample(image) for image in data['inputs']]
        if training and self.mcrm is not None:
            self.mcrm(inputs, samples)
        with self._stacking_only():
            return super().forward(
                dict(inputs=inputs, data_samples=samples), training)
