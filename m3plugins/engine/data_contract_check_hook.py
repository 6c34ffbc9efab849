"""Check the data contract against the model before a loop runs; keep it.

Every dataset of this package declares its data contract in ``metainfo``
(:class:`m3plugins.structures.DataContract`: modalities with their bands
and normalisation, classes, palette, ignore index). This hook compares it
with the model when a train, val or test loop starts, before the first
iteration, and names both sides of any disagreement:

* The modality layout: the model only sees stacked channels, so a cube with
  143 bands instead of 144, or two modalities swapped with the same total,
  would otherwise surface late ("Input has 144 channels but the model
  expects 145") or never (training silently on swapped inputs)::

      hsi has 143 bands, the model expects 144 (modality layout hsi=144,
      lidar=1; total 144 vs 145) in the train dataset HSISceneDataset.

  The model's layout is its data preprocessor's ``modality_channels``
  (:func:`m3plugins.models.layout.model_modality_channels`); the data's is
  the contract's, or a dataset's own ``modality_channels`` where it
  declares no contract.
  Modalities the model fills in itself (the data preprocessor's
  ``missing_modalities``) may be absent from the data. Layouts with no
  name in common and equal totals (a model that names its inputs
  ``modality0``, ``modality1``) are left alone.
* The class count: every decode and auxiliary head's ``num_classes`` must
  equal the dataset's number of classes (otherwise a label 8 fails deep in
  ``cross_entropy`` as "Target 8 is out of bounds", or a class is never
  predicted).
* After a checkpoint is loaded (``tools/test.py``, resuming), the test or
  validation data must be normalised as the checkpoint's training data was:
  same bands and the same method per shared modality.

When a checkpoint is saved, the hook adds the model's ``tile_size`` (the
input size of its slide inference, else its data preprocessor's ``size``)
to the contract mmengine wrote into ``meta['dataset_meta']``, so inference
reads everything it needs from the checkpoint.

Every m3plugins config declares it in ``default_hooks`` (through
``configs/_base_/default_runtime.py``), so it runs under every entry point
(``tools/train.py``, MMSeg's tools, ``mim train/test``); a config of your
own opts in with ``default_hooks.data_contract =
dict(type='DataContractCheckHook')``.
"""
from collections import OrderedDict
from collections.abc import Sequence
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import nn

from m3plugins.models.layout import (
    model_missing_modalities,
    model_modality_channels,
)
from m3plugins.structures import DataContract
from m3plugins.structures.data_contract import tile_size_of
from m3plugins.utils.modalities import (
    ModalityError,
    ModalityLayout,
    check_modality_layout,
    format_modality_layout,
    ordered_modality_channels,
)

__all__ = [
    'DataContractCheckHook', 'ClassCountError',
    'dataset_modality_channels', 'dataset_contract', 'model_tile_size'
]


class ClassCountError(ValueError):
    """The model predicts another number of classes than the data has."""


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def dataset_contract(dataset) -> DataContract | None:
    """The data contract in a dataset's ``metainfo``, or None.

    mmengine's wrappers (``RepeatDataset``, ``ConcatDataset``...) expose the
    wrapped dataset's ``metainfo``.
    """
    metainfo = getattr(dataset, 'metainfo', None)
    return DataContract.from_metainfo(metainfo) if isinstance(
        metainfo, dict) else None


def dataset_modality_channels(dataset) -> Optional['OrderedDict[str, int]']:
    """The dataset's modality layout, or None where it declares none.

    Its data contract's, else its ``modality_channels`` attribute (looking
    through mmengine's dataset wrappers).
    """
    contract = dataset_contract(dataset)
    if contract is not None:
        return contract.modality_channels
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
        m3plugins.utils.modalities.ModalityError: If the totals differ, or
            both name the same modalities with other counts or in another
            order.
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


def _heads(model) -> list[tuple[str, object]]:
    """(config name, head) of every decode and auxiliary head."""
    heads = []
    for name in ('decode_head', 'auxiliary_head'):
        part = getattr(model, name, None)
        if part is None:
            continue
        parts = list(part) if isinstance(part, nn.ModuleList) else [part]
        for index, head in enumerate(parts):
            label = f'{name}[{index}]' if len(parts) > 1 else name
            heads.append((label, head))
    return heads


def check_class_count(dataset, model, where: str) -> None:
    """Raise ClassCountError if a head's ``num_classes`` is not the data's.

    Args:
        dataset: The loop's dataset (its ``metainfo['classes']``).
        model: The segmentor (wrappers looked through).
        where: Names the dataset in the message.

    Raises:
        ClassCountError: Naming the dataset's count and classes, the head
            and its ``num_classes``.
    """
    metainfo = getattr(dataset, 'metainfo', None)
    classes = metainfo.get('classes') if isinstance(metainfo, dict) else None
    if not classes:
        return
    for label, head in _heads(_unwrap(model)):
        predicted = getattr(head, 'num_classes', None)
        if predicted is None or predicted == len(classes):
            continue
        shown = ', '.join(map(str, classes[:8])) + (
            ', ...' if len(classes) > 8 else '')
        raise ClassCountError(
            f'The data has {len(classes)} classes ({shown}) but the '
            f'model\'s {label} predicts {predicted} (num_classes='
            f'{predicted}){where}. Fix: set num_classes={len(classes)} in '
            'the model config (decode and auxiliary heads), or pick the '
            'dataset whose classes the model was built for.')


def check_normalization(trained: DataContract, served: DataContract,
                        where: str) -> None:
    """Raise ModalityError where data is scaled unlike the training data.

    Args:
        trained: The contract saved in the loaded checkpoint.
        served: The contract of the dataset about to be evaluated.
        where: Names the dataset in the message.

    Raises:
        ModalityError: For a shared modality with other bands, another
            normalisation method or another statistics scope, naming both.
    """
    for spec in served.modalities:
        if spec.name not in trained.modality_channels:
            continue
        before = trained.modality(spec.name)
        ours = (spec.bands, spec.normalization, spec.statistics_scope)
        theirs = (before.bands, before.normalization,
                  before.statistics_scope)
        if ours != theirs:
            raise ModalityError(
                f'{spec.name} is served with {spec.bands} bands, '
                f'normalization {spec.normalization!r} per '
                f'{spec.statistics_scope}{where}, but the checkpoint was '
                f'trained on {before.bands} bands, normalization '
                f'{before.normalization!r} per {before.statistics_scope} '
                f'(checkpoint layout '
                f'{format_modality_layout(trained.modality_channels)}). '
                'Fix: configure the dataset as the training data was.')


def model_tile_size(model) -> tuple[int, int] | None:
    """The input size inference should use, or None (any size).

    See :func:`m3plugins.structures.data_contract.tile_size_of`: the
    slide-inference ``crop_size`` of the model's ``test_cfg``, else its
    data preprocessor's ``size``.
    """
    model = _unwrap(model)
    return tile_size_of(
        getattr(model, 'test_cfg', None),
        getattr(getattr(model, 'data_preprocessor', None), 'size', None))


@HOOKS.register_module()
class DataContractCheckHook(Hook):
    """Check the data contract against the model; keep it in checkpoints.

    See the module docstring for what is checked and saved.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checkpoint_contract: DataContract | None = None

    def _check(self, runner, loop_name: str) -> None:
        loop = getattr(runner, f'{loop_name}_loop', None)
        dataloader = getattr(loop, 'dataloader', None)
        dataset = getattr(dataloader, 'dataset', None)
        if dataset is None:
            return
        where = f' in the {loop_name} dataset {type(dataset).__name__}'
        data_layout = dataset_modality_channels(dataset)
        model_layout = model_modality_channels(runner.model)
        if data_layout is not None and model_layout is not None:
            check_data_against_model(data_layout, model_layout, where,
                                     model_missing_modalities(runner.model))
        check_class_count(dataset, runner.model, where)
        served = dataset_contract(dataset)
        if loop_name != 'train' and served is not None and \
                self._checkpoint_contract is not None:
            check_normalization(self._checkpoint_contract, served, where)

    def before_train(self, runner) -> None:
        """Check the training data before the first iteration."""
        self._check(runner, 'train')

    def before_val(self, runner) -> None:
        """Check the validation data before the first iteration."""
        self._check(runner, 'val')

    def before_test(self, runner) -> None:
        """Check the test data before the first iteration."""
        self._check(runner, 'test')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Remember the loaded checkpoint's contract, if it has one."""
        meta = checkpoint.get('meta') or {}
        self._checkpoint_contract = DataContract.from_metainfo(
            meta.get('dataset_meta'))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the model's ``tile_size`` to the checkpoint's contract."""
        meta = checkpoint.get('meta') or {}
        dataset_meta = meta.get('dataset_meta')
        if DataContract.from_metainfo(dataset_meta) is None:
            return
        tile_size = model_tile_size(runner.model)
        dataset_meta['tile_size'] = None if tile_size is None else list(
            tile_size)
