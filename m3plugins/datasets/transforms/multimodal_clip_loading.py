"""Load an optical clip and its DSM clip into one stacked image for MMSeg.

API (registered in ``mmseg.registry.TRANSFORMS``):
    LoadMultimodalClip(modalities=None)

Input keys (the items of ``ISPRSPotsdamClipsDataset`` /
``ISPRSVaihingenClipsDataset``): ``img_path`` (optical clip: PNG as written
by MMSeg's ISPRS converters, or a GeoTIFF) and, when
``'dsm'`` is requested, ``dsm_path`` (one-band float32 GeoTIFF from
``tools/dataset_converters/isprs_multimodal.py``).

``modalities`` None (default) takes the item's ``modality_channels`` keys:
``('optical', 'dsm')`` from a dataset with ``with_dsm=True``,
``('optical',)`` with ``with_dsm=False``, so a config switches to
optical-only data in the dataset alone.

Output keys: ``img`` (h, w, C) float32 stacked in that order by
:func:`m3plugins.utils.modalities.stack_modalities` (which rejects size
mismatches and NaN naming the modality): optical bands with their file
values (0..255) in file order (Potsdam RGB, Vaihingen IRRG; unlike MMSeg's
``LoadImageFromFile`` no BGR flip, so the data preprocessor takes
``bgr_to_rgb=False`` as in the whole-tile ISPRS configs), then the DSM as
stored (already scaled per original tile by the converter). ``img_shape``,
``ori_shape``. Labels are MMSeg's business: put ``LoadAnnotations`` after
this transform (it honours the dataset's ``reduce_zero_label``).

This is the clip counterpart of
:class:`~m3plugins.datasets.transforms.LoadMultimodalTile`; both give the
model's channel layout ``[('optical', 3), ('dsm', 1)]``
(``configs/_base_/models/mobanet_vit_l.py``). With
``modalities=('optical',)`` the DSM is not read: the 3-channel input of the
optical-only MoBaNet config.
"""
import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...io.file_discovery import MissingDataError, missing_data_report
from ...io.raster_reading import read_raster
from ...utils.modalities import stack_modalities

__all__ = ['LoadMultimodalClip']


def read_clip(path: str) -> np.ndarray:
    """Read a clip raster as (H, W, C) float32 in file band order.

    Args:
        path: PNG / JPEG (read with Pillow: exact 8-bit values) or GeoTIFF
            (declared nodata becomes NaN); see
            :func:`m3plugins.io.raster_reading.read_raster`.

    Returns:
        np.ndarray: (H, W, C) float32.

    Raises:
        RasterReadError: If the file cannot be read.
    """
    array = read_raster(path, nodata_as_nan=True).astype(np.float32,
                                                        copy=False)
    return array if array.ndim == 3 else array[..., None]


@TRANSFORMS.register_module()
class LoadMultimodalClip(BaseTransform):
    """Read ``img_path`` (optical) and ``dsm_path`` into one stacked image.

    Args:
        modalities: Modalities to stack, in the model's order: ``'optical'``
            (from ``img_path``) and ``'dsm'`` (from ``dsm_path``); None: the
            keys of the item's ``modality_channels`` (default
            ``('optical', 'dsm')``).

    Raises:
        ValueError: For an unknown modality name.
    """

    #: Modality -> results key of its file.
    path_keys = {'optical': 'img_path', 'dsm': 'dsm_path'}

    #: Stacking order when neither the transform nor the item gives one.
    default_modalities = ('optical', 'dsm')

    def __init__(self, modalities: Sequence[str] | None = None) -> None:
        if modalities is not None:
            modalities = self._checked(modalities)
        self.modalities = modalities

    def _checked(self, modalities: Sequence[str]) -> tuple[str, ...]:
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in self.path_keys]
        if unknown or not modalities:
            raise ValueError(f'modalities must be taken from '
                             f'{tuple(self.path_keys)}, got {modalities}.')
        return modalities

    def transform(self, results: dict) -> dict:
        """Stack the clips of ``results`` into ``img``.

        Args:
            results: A clip item (``img_path``, ``dsm_path``...).

        Returns:
            dict: ``results`` with ``img`` (h, w, C) float32, ``img_shape``
            and ``ori_shape``.

        Raises:
            ValueError: An unknown modality in the item's
                ``modality_channels``.
            MissingDataError: If the DSM is requested and the item has
                no ``dsm_path`` or the file is missing.
            ModalityError: Clips of different sizes, or NaN / Inf values.
        """
        modalities = self.modalities
        if modalities is None:
            modalities = self._checked(
                results.get('modality_channels') or self.default_modalities)
        arrays = OrderedDict()
        for modality in modalities:
            path = results.get(self.path_keys[modality])
            if not path or not os.path.isfile(path):
                key = self.path_keys[modality]
                raise MissingDataError(missing_data_report(
                    f'The {modality} clip of {results.get("img_path")}',
                    None, {f'{modality} clip ({key})': [repr(path)]},
                    obtain=['DSM clips are written by '
                            'tools/dataset_converters/isprs_multimodal.py '
                            '(--dsm-only next to existing MMSeg clips).'],
                    layout=['img_dir/<split>/<name>.png (optical clip)',
                            'dsm_dir/<split>/<name>.tif (its DSM clip)'],
                    fix='write the DSM clips, or without a DSM use '
                    "LoadMultimodalClip(modalities=('optical',)).",
                    summary='1 file missing'), missing=[modality])
            arrays[modality] = read_clip(path)
        img = stack_modalities(arrays)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={self.modalities})'
