"""Modality-Conditional Random Masking (MCRM) of MoBaNet as an mmengine hook.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) trains
with parts of one modality missing so that the fusion does not lean on a
single input: in every training batch a fraction of the samples is chosen;
half of them lose rectangles (one by default) of the optical image, the
other half of the DSM, never both.
"""
import math
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from m3plugins.utils.modalities import (
    ModalityLayout,
    ordered_modality_channels,
)


def sample_rectangle(height: int, width: int,
                     area_range: Sequence[float],
                     aspect_range: Sequence[float],
                     rng: np.random.Generator,
                     max_tries: int = 50) -> tuple[int, int, int, int]:
    """A random rectangle inside an image, by area fraction and aspect.

    The aspect ratio (width / height) is drawn uniformly from the part of
    ``aspect_range`` for which a rectangle of the minimum area still fits,
    then the area fraction uniformly from the part of ``area_range`` that
    fits at that aspect. The integer rectangle is accepted only if its
    actual area fraction and aspect lie inside the ranges, so the bounds
    hold exactly. Images too small or too elongated for any such rectangle
    (or ``max_tries`` rounding failures) get the smallest-area rectangle of
    the closest feasible aspect.

    Args:
        height, width: Image size.
        area_range: (min, max) fraction of the image area.
        aspect_range: (min, max) of width / height.
        rng: Random generator.
        max_tries: Rejection-sampling budget.

    Returns:
        tuple[int, int, int, int]: top, left, box height, box width.
    """
    area = height * width
    min_area = area_range[0] * area
    # h = sqrt(A / a) <= H and w = sqrt(A * a) <= W at A = min_area.
    aspect_lo = max(aspect_range[0], min_area / height**2)
    aspect_hi = min(aspect_range[1], width**2 / min_area)
    box = None
    if aspect_lo <= aspect_hi:
        for _ in range(max_tries):
            aspect = rng.uniform(aspect_lo, aspect_hi)
            max_area = min(area_range[1] * area, height**2 * aspect,
                           width**2 / aspect)
            target = rng.uniform(min_area, max(min_area, max_area))
            box_h = int(round(math.sqrt(target / aspect)))
            box_w = int(round(math.sqrt(target * aspect)))
            if not (1 <= box_h <= height and 1 <= box_w <= width):
                continue
            fraction = box_h * box_w / area
            if area_range[0] <= fraction <= area_range[1] and \
                    aspect_range[0] <= box_w / box_h <= aspect_range[1]:
                box = box_h, box_w
                break
    if box is None:
        aspect = min(max(1.0, aspect_lo), max(aspect_lo, aspect_hi))
        box_h = min(height, max(1, int(math.ceil(
            math.sqrt(min_area / aspect)))))
        box_w = min(width, max(1, int(math.ceil(min_area / box_h))))
        box = box_h, box_w
    box_h, box_w = box
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    return top, left, box_h, box_w


@HOOKS.register_module()
class ModalityConditionalRandomMaskingHook(Hook):
    """MCRM: mask rectangles of one modality in some training samples.

    Before every training iteration, ``int(batch_size * ratio)`` samples are
    chosen at random (official: 0.25 in the MoBaNet paper protocol). They
    are split over ``modalities`` in order: with two modalities the first
    gets ``n // 2`` samples and the second the rest (as the official code),
    so batch 8 gives 2 chosen, 1 optical-masked and 1 DSM-masked. Each chosen
    sample gets ``num_blocks`` rectangles (each drawn on its own: area
    fraction in ``area_range``, aspect width / height in ``aspect_range``,
    position uniform; they may overlap) of that one modality's channels
    filled. The official ``apply_mcrc_mask(..., num_blocks=1)``
    (sauryeo/MoBaNet, ``Model/models/ImageEncoder/vit/peft_modules.py``,
    ``_apply_local_mask``; ``Net.py`` passes ``mcrc_local_blocks``, default
    1) draws the same way, one rectangle after another per sample. Validation and test are never touched (only
    :meth:`before_train_iter` acts).

    Filling: the official code zeroes the network input. The hook edits the
    raw batch before the data preprocessor, so by default it fills each
    channel with the preprocessor's mean, which the normalisation maps to
    exactly 0 (``fill_value=None``); a number fills raw values instead.
    Masked batches are converted to float32.

    Each masked sample records ``mcrm_modality``, ``mcrm_boxes`` (one
    (top, left, height, width) per rectangle, in drawing order) and
    ``mcrm_box`` (the first of them) in its data sample's metainfo.

    Args:
        modality_channels: Modality -> channels of the stacked input in
            order, as (name, channels) pairs or a dict.
        modalities: Modalities that may be masked (default: all), one per
            chosen sample.
        ratio: Fraction of each batch that is chosen.
        area_range: (min, max) rectangle area as a fraction of the crop.
        aspect_range: (min, max) rectangle aspect ratio.
        num_blocks: Rectangles per masked sample. Defaults to 1 (official
            default); with 1 the draws are exactly those of one rectangle.
        fill_value: ``None`` (zero after normalisation) or a raw value.
        seed: Seed of the hook's own generator; ``None`` draws from numpy's
            global state, which mmengine's ``randomness.seed`` sets.
    """

    priority = 'NORMAL'

    def __init__(self,
                 modality_channels: ModalityLayout = (('optical', 3), ('dsm', 1)),
                 modalities: Sequence[str] | None = None,
                 ratio: float = 0.25,
                 area_range: Sequence[float] = (0.1, 0.3),
                 aspect_range: Sequence[float] = (0.5, 2.0),
                 fill_value: float | None = None,
                 seed: int | None = None,
                 num_blocks: int = 1):
        self.modality_channels = ordered_modality_channels(
            modality_channels)
        names = list(self.modality_channels)
        self.modalities = list(modalities) if modalities is not None \
            else names
        unknown = [m for m in self.modalities if m not in names]
        if unknown or not self.modalities:
            raise ValueError(f'modalities {self.modalities} must be a '
                             f'non-empty subset of {names}.')
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f'ratio must be in [0, 1], got {ratio}.')
        for label, (low, high), upper in (('area_range', area_range, 1.0),
                                          ('aspect_range', aspect_range,
                                           None)):
            if not 0 < low <= high or (upper is not None and high > upper):
                raise ValueError(f'{label} must be 0 < min <= max'
                                 f'{" <= 1" if upper else ""}, got '
                                 f'{(low, high)}.')
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) \
                or num_blocks < 1:
            raise ValueError(
                f'num_blocks must be a positive int, got {num_blocks!r}.')
        self.ratio = ratio
        self.num_blocks = num_blocks
        self.area_range = tuple(area_range)
        self.aspect_range = tuple(aspect_range)
        self.fill_value = fill_value
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        starts = np.cumsum([0] + list(self.modality_channels.values()))
        self._slices = {
            name: slice(int(starts[i]), int(starts[i + 1]))
            for i, name in enumerate(names)
        }

    def _generator(self) -> np.random.Generator:
        if self._rng is not None:
            return self._rng
        return np.random.default_rng(np.random.randint(0, 2**31 - 1))

    def assign(self, batch_size: int,
               rng: np.random.Generator) -> dict[int, str]:
        """Choose samples and their masked modality: index -> modality."""
        n_chosen = int(batch_size * self.ratio)
        chosen = rng.permutation(batch_size)[:n_chosen]
        groups = np.array_split(chosen[::-1], len(self.modalities))
        assignment = {}
        for name, group in zip(self.modalities, groups[::-1]):
            for index in group:
                assignment[int(index)] = name
        return assignment

    def _fill_values(self, runner, name: str, channels: int) -> torch.Tensor:
        if self.fill_value is not None:
            return torch.full((channels, 1, 1), float(self.fill_value))
        preprocessor = getattr(_unwrap(runner.model), 'data_preprocessor',
                               None)
        mean = getattr(preprocessor, 'mean', None)
        if mean is None or not getattr(preprocessor, '_enable_normalize',
                                       True):
            return torch.zeros(channels, 1, 1)
        return mean.detach().float().cpu().reshape(-1, 1, 1)[
            self._slices[name]]

    def mask_batch(self, inputs: list[torch.Tensor],
                   fill: dict[str, torch.Tensor],
                   rng: np.random.Generator) -> dict[int, tuple]:
        """Mask a list of (C, H, W) inputs in place; returns what was done.

        Args:
            inputs: Raw per-sample inputs (modified; converted to float32).
            fill: Modality -> fill values (C_m, 1, 1).
            rng: Random generator.

        Returns:
            dict[int, tuple]: index -> (modality, boxes), ``boxes`` a tuple
            of ``num_blocks`` (top, left, h, w) in drawing order.
        """
        done = {}
        for index, name in sorted(self.assign(len(inputs), rng).items()):
            image = inputs[index]
            if not image.is_floating_point():
                image = image.float()
            height, width = image.shape[-2:]
            boxes = []
            for _ in range(self.num_blocks):
                top, left, box_h, box_w = sample_rectangle(
                    height, width, self.area_range, self.aspect_range, rng)
                region = image[self._slices[name], top:top + box_h,
                               left:left + box_w]
                region.copy_(fill[name].to(image).expand_as(region))
                boxes.append((top, left, box_h, box_w))
            inputs[index] = image
            done[index] = (name, tuple(boxes))
        return done

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: dict | None = None) -> None:
        if not data_batch or 'inputs' not in data_batch or self.ratio == 0:
            return
        inputs = data_batch['inputs']
        if isinstance(inputs, torch.Tensor):
            inputs = list(inputs.unbind(0))
        else:
            inputs = list(inputs)
        total = sum(self.modality_channels.values())
        for image in inputs:
            if image.shape[0] != total:
                raise ValueError(
                    f'MCRM expects {total} stacked channels '
                    f'({self.modality_channels}), got {image.shape[0]}.')
        fill = {
            name: self._fill_values(runner, name,
                                    self._slices[name].stop -
                                    self._slices[name].start)
            for name in self.modalities
        }
        done = self.mask_batch(inputs, fill, self._generator())
        if done and any(not t.is_floating_point() for t in inputs):
            inputs = [t.float() for t in inputs]
        if isinstance(data_batch['inputs'], torch.Tensor):
            data_batch['inputs'] = torch.stack(inputs)
        else:
            data_batch['inputs'] = inputs
        samples = data_batch.get('data_samples')
        if samples is not None:
            for index, (name, boxes) in done.items():
                samples[index].set_metainfo(
                    dict(mcrm_modality=name, mcrm_box=boxes[0],
                         mcrm_boxes=boxes))


def _unwrap(model):
    return getattr(model, 'module', model)
