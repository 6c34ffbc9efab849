"""Compare the data's modality layout with the model's before a loop runs.

The model only sees the stacked channels, so a cube with 143 bands instead of
144 used to surface at the first forward pass as "Input has 144 channels but
the model expects 145": the stacked totals, not the modality. The datasets
know their layout (``dataset.modality_channels``: ``HSISceneDataset``, the
ISPRS tile and clip datasets) and so do the models (``modality_channels`` of
the segmentor or its backbone); this hook compares them when a train, val or
test loop starts and names each modality that disagrees with both counts::

    hsi has 143 bands, the model expects 144 (modality layout hsi=144,
    lidar=1; total 144 vs 145) in the train dataset HSISceneDataset.

``m3plugins.apis.cli.build_runner`` (``tools/train.py``, ``tools/test.py``,
``tools/demo.py``) registers it on every runner; configs run through
mmengine's Runner directly can add ``dict(type='DataContractCheckHook')``
to ``custom_hooks``.

A model that fills in missing modalities itself (``MoBaNetSegmentor`` with
``missing_modality='dsm'`` puts a zero DSM beside optical-only batches)
also accepts data without them.

Layouts are compared where a mismatch is certain to be an error: the
stacked totals differ (the first forward would fail anyway), or the two
sides share modality names and differ in counts, names or order. Layouts
with no name in common and equal totals (a model that names its inputs
``modality0``, ``modality1``) are left alone.
"""
from collections import OrderedDict
from collections.abc import Sequence
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from m3plugins.utils.modalities import (
    ModalityLayout,
    check_modality_layout,
    ordered_modality_channels,
)

__all__ = ['DataContractCheckHook', 'model_modality_channels',
           'dataset_modality_channels']


def model_modality_channels(model) -> Optional['OrderedDict[str, int]']:
    """The model's ``modality_channels`` (segmentor first, then backbone),
    or None where it declares none.
    """
    if is_model_wrapper(model):
        model = model.module
    for owner in (model, getattr(model, 'backbone', None)):
        layout = getattr(owner, 'modality_channels', None)
        if layout:
            return ordered_modality_channels(layout)
    return None


def model_missing_modalities(model) -> list[str]:
    """Modalities the model fills in itself when the data lacks them
    (``MoBaNetSegmentor.missing_modality``: an optical-only batch gets a
    zero DSM), so data without them is accepted too.
    """
    if is_model_wrapper(model):
        model = model.module
    missing = getattr(model, 'missing_modality', None) or []
    return [missing] if isinstance(missing, str) else list(missing)


def dataset_modality_channels(dataset) -> Optional['OrderedDict[str, int]']:
    """The dataset's ``modality_channels`` (looking through mmengine's
    dataset wrappers), or None where it declares none.
    """
    for _ in range(8):  # RepeatDataset(ClassBalancedDataset(...)) and so on
        layout = getattr(dataset, 'modality_channels', None)
        if layout:
            return ordered_modality_channels(layout)
        inner = getattr(dataset, 'dataset', None)
        if inner is None:
            datasets = getattr(dataset, 'datasets', None)
            inner = datasets[0] if datasets else None
        if inner is None:
            return None
        dataset = inner
    return None


def check_data_against_model(data_layout: ModalityLayout,
                             model_layout: ModalityLayout,
                             where: str,
                             missing: Sequence[str] = ()) -> None:
    """Raise ModalityError where the two layouts certainly disagree.

    Args:
        data_layout: The dataset's modality -> channels.
        model_layout: The model's modality -> channels.
        where: Names the dataset in the message (``' in the train dataset
            HSISceneDataset'``).
        missing: Modalities the model fills in itself; data without them
            is accepted as well.

    Raises:
        m3plugins.utils.modalities.ModalityError: If the totals differ, or both name the same
            modalities with other counts or in another order.
    """
    data_layout = ordered_modality_channels(data_layout)
    model_layout = ordered_modality_channels(model_layout)
    present = OrderedDict(
        (m, n) for m, n in model_layout.items() if m not in missing)
    if missing and set(data_layout) == set(present):
        check_modality_layout(data_layout, present, where=where)
        return
    same_total = sum(data_layout.values()) == sum(model_layout.values())
    if same_total and not set(data_layout) & set(model_layout):
        return  # another naming convention, same channels
    check_modality_layout(data_layout, model_layout, where=where)


@HOOKS.register_module()
class DataContractCheckHook(Hook):
    """Before each loop, check the dataset's modality layout against the
    model's (see the module docstring).
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, loop_name: str) -> None:
        model_layout = model_modality_channels(runner.model)
        if model_layout is None:
            return
        loop = getattr(runner, f'{loop_name}_loop', None)
        dataloader = getattr(loop, 'dataloader', None)
        dataset = getattr(dataloader, 'dataset', None)
        data_layout = dataset_modality_channels(dataset)
        if data_layout is None:
            return
        check_data_against_model(
            data_layout, model_layout,
            f' in the {loop_name} dataset {type(dataset).__name__}',
            model_missing_modalities(runner.model))

    def before_train(self, runner) -> None:
        self._check(runner, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, 'test')
