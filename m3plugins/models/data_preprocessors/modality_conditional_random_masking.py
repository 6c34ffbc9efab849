"""Modality-Conditional Random Masking (MCRM), a batch augmentation.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) trains
with parts of one modality missing so that the fusion does not lean on a
single input: in every training batch a fraction of the samples is chosen,
the chosen samples are shared out over the modalities, and each loses one
or more rectangles of its modality's channels, which are set to zero.

:class:`ModalityConditionalRandomMasking` acts on the *normalised*
per-sample inputs inside
:class:`~m3plugins.models.data_preprocessors.MultimodalSegDataPreProcessor`
(before padding and stacking), so zero is the official "zeroed input" with
no fill value to derive from the normalisation statistics.
"""
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from torch import Tensor

from m3plugins.utils.modalities import (
    ModalityLayout,
    format_modality_layout,
    ordered_modality_channels,
)

__all__ = ['ModalityConditionalRandomMasking', 'sample_rectangle']

Box = tuple[int, int, int, int]


def _fallback_box(height: int, width: int, min_area: float,
                  aspect_lo: float, aspect_hi: float) -> tuple[int, int]:
    """Smallest-area (h, w) at the feasible aspect closest to 1."""
    aspect = min(max(1.0, aspect_lo), max(aspect_lo, aspect_hi))
    box_h = int(math.ceil(math.sqrt(min_area / aspect)))
    box_h = min(height, max(1, box_h))
    box_w = min(width, max(1, int(math.ceil(min_area / box_h))))
    return box_h, box_w


def sample_rectangle(height: int, width: int,
                     area_range: Sequence[float],
                     aspect_range: Sequence[float],
                     rng: np.random.Generator,
                     max_tries: int = 50) -> Box:
    """Draw a rectangle inside an ``height x width`` image.

    Per try, the aspect ratio (width / height) is drawn uniformly from the
    part of ``aspect_range`` where a rectangle of the minimum area fits,
    then the area uniformly from the part of ``area_range`` that fits at
    that aspect. The rounded rectangle is kept only if its real area
    fraction and aspect lie in the ranges; when no try succeeds (or the
    image is too small or elongated for any), the smallest-area rectangle
    of the feasible aspect closest to 1 is used. The position is uniform.

    Args:
        height: Image height H.
        width: Image width W.
        area_range: (min, max) rectangle area as a fraction of H * W.
        aspect_range: (min, max) of width / height.
        rng: Generator of every draw.
        max_tries: Tries before the fallback rectangle.

    Returns:
        tuple[int, int, int, int]: (top, left, box height, box width).
    """
    image_area = height * width
    min_area = area_range[0] * image_area
    # At the minimum area A, h = sqrt(A / a) must fit H and w = sqrt(A a) W.
    aspect_lo = max(aspect_range[0], min_area / height ** 2)
    aspect_hi = min(aspect_range[1], width ** 2 / min_area)
    size = None
    tries = max_tries if aspect_lo <= aspect_hi else 0
    for _ in range(tries):
        aspect = rng.uniform(aspect_lo, aspect_hi)
        area_hi = min(area_range[1] * image_area, height ** 2 * aspect,
                      width ** 2 / aspect)
        area = rng.uniform(min_area, max(min_area, area_hi))
        box_h = int(round(math.sqrt(area / aspect)))
        box_w = int(round(math.sqrt(area * aspect)))
        if not (1 <= box_h <= height and 1 <= box_w <= width):
            continue
        in_area = area_range[0] <= box_h * box_w / image_area \
            <= area_range[1]
        in_aspect = aspect_range[0] <= box_w / box_h <= aspect_range[1]
        if in_area and in_aspect:
            size = box_h, box_w
            break
    if size is None:
        size = _fallback_box(height, width, min_area, aspect_lo, aspect_hi)
    box_h, box_w = size
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    return top, left, box_h, box_w


class ModalityConditionalRandomMasking:
    """MCRM: zero rectangles of one modality in some samples of a batch.

    Per batch of B samples, ``int(B * ratio)`` samples are chosen at random
    (``rng.permutation``; 0.25 in the MoBaNet paper protocol) and shared
    out over ``modalities`` in order, the last modality getting the larger
    share (two modalities: the first gets ``n // 2``, the second the rest,
    as in the official code), so batch 8 gives one optical- and one
    DSM-masked sample. Each chosen sample, in index order, gets
    ``num_blocks`` rectangles of :func:`sample_rectangle` (area fraction in
    ``area_range``, aspect in ``aspect_range``, uniform position; they may
    overlap) of its one modality's channels set to 0, drawing one rectangle
    after another as the official ``apply_mcrc_mask(..., num_blocks=1)``
    (sauryeo/MoBaNet, ``Model/models/ImageEncoder/vit/peft_modules.py``).

    Each masked sample's metainfo gets ``mcrm_modality`` (name),
    ``mcrm_boxes`` (one ``(top, left, height, width)`` per rectangle, in
    drawing order) and ``mcrm_box`` (the first of them).

    Args:
        modality_channels: Modality -> channels of the stacked input, in
            order, as ``(name, C)`` pairs or a mapping.
        ratio: Fraction of each batch that is masked, in [0, 1].
        area_range: (min, max) rectangle area as a fraction of the input,
            ``0 < min <= max <= 1``.
        aspect_range: (min, max) rectangle width / height, ``0 < min <=
            max``.
        num_blocks: Rectangles per masked sample (official default 1).
        modalities: Modalities that may be masked, in the order the chosen
            samples are shared out. Defaults to all, in layout order.
        seed: Seed of a generator kept for the whole run; ``None`` seeds a
            new generator per batch from numpy's global state (which
            mmengine's ``randomness.seed`` sets).

    Raises:
        ValueError: For modalities outside the layout, or out-of-range
            ratio, ranges or ``num_blocks``.
    """

    def __init__(self,
                 modality_channels: ModalityLayout,
                 ratio: float = 0.25,
                 area_range: Sequence[float] = (0.1, 0.3),
                 aspect_range: Sequence[float] = (0.5, 2.0),
                 num_blocks: int = 1,
                 modalities: Sequence[str] | None = None,
                 seed: int | None = None):
        self.modality_channels = ordered_modality_channels(
            modality_channels)
        names = list(self.modality_channels)
        self.modalities = names if modalities is None else list(modalities)
        if not self.modalities or any(m not in names
                                      for m in self.modalities):
            raise ValueError(f'MCRM modalities {self.modalities} must be a '
                             f'non-empty subset of {names}.')
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f'MCRM ratio must be in [0, 1], got {ratio}.')
        low, high = area_range
        if not 0 < low <= high <= 1:
            raise ValueError('MCRM area_range must be 0 < min <= max <= 1, '
                             f'got {tuple(area_range)}.')
        low, high = aspect_range
        if not 0 < low <= high:
            raise ValueError('MCRM aspect_range must be 0 < min <= max, '
                             f'got {tuple(aspect_range)}.')
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) \
                or num_blocks < 1:
            raise ValueError('MCRM num_blocks must be a positive int, got '
                             f'{num_blocks!r}.')
        self.ratio = float(ratio)
        self.area_range = tuple(area_range)
        self.aspect_range = tuple(aspect_range)
        self.num_blocks = num_blocks
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.channel_slices = OrderedDict()
        start = 0
        for name, channels in self.modality_channels.items():
            self.channel_slices[name] = slice(start, start + channels)
            start += channels

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(modalities={self.modalities}, '
                f'ratio={self.ratio}, area_range={self.area_range}, '
                f'aspect_range={self.aspect_range}, '
                f'num_blocks={self.num_blocks}, seed={self.seed})')

    def generator(self) -> np.random.Generator:
        """The seeded generator, or a fresh one from numpy's global RNG."""
        if self._rng is not None:
            return self._rng
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))

    def assign(self, batch_size: int,
               rng: np.random.Generator) -> dict[int, str]:
        """Pick the masked samples: sample index -> modality to mask."""
        count = int(batch_size * self.ratio)
        picked = rng.permutation(batch_size)[:count]
        # array_split gives the larger shares first; handing them out from
        # the end gives the last modalities the larger shares.
        shares = np.array_split(picked[::-1], len(self.modalities))[::-1]
        return {int(index): name
                for name, share in zip(self.modalities, shares)
                for index in share}

    def __call__(self, inputs: list[Tensor],
                 data_samples: Sequence | None = None,
                 fill: Tensor | None = None
                 ) -> dict[int, tuple[str, tuple[Box, ...]]]:
        """Mask a batch in place.

        Args:
            inputs: Float samples, each (C, H, W) with C the layout's total;
                the chosen ones are modified in place.
            data_samples: Their data samples (metainfo is set on the masked
                ones), or None.
            fill: Value per channel, (C,), written into the rectangles;
                None writes 0 (the official zeroing of normalised inputs).
                :class:`~m3plugins.engine.ModalityMaskingHook` masks raw
                inputs with the normalisation mean, which normalises to 0.

        Returns:
            dict[int, tuple]: Sample index -> (modality, boxes), ``boxes``
            one (top, left, height, width) per rectangle.

        Raises:
            ValueError: If a sample's channel count is not the layout's.
        """
        if self.ratio == 0 or not inputs:
            return {}
        total = sum(self.modality_channels.values())
        for image in inputs:
            if image.shape[0] != total:
                raise ValueError(
                    f'MCRM expects {total} stacked channels '
                    f'({format_modality_layout(self.modality_channels)}), '
                    f'got {image.shape[0]}.')
        rng = self.generator()
        masked = {}
        for index, name in sorted(self.assign(len(inputs), rng).items()):
            image = inputs[index]
            height, width = image.shape[-2:]
            boxes = []
            for _ in range(self.num_blocks):
                top, left, box_h, box_w = sample_rectangle(
                    height, width, self.area_range, self.aspect_range, rng)
                channels = self.channel_slices[name]
                value = 0 if fill is None else \
                    fill[channels].to(image)[:, None, None]
                image[channels, top:top + box_h, left:left + box_w] = value
                boxes.append((top, left, box_h, box_w))
            masked[index] = (name, tuple(boxes))
        if data_samples is not None:
            for index, (name, boxes) in masked.items():
                data_samples[index].set_metainfo(dict(
                    mcrm_modality=name, mcrm_boxes=boxes, mcrm_box=boxes[0]))
        return masked

