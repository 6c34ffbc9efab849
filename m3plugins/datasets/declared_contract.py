"""The data contract a dataset config declares, without reading any file.

A built dataset of this package carries its contract in ``metainfo`` (see
:class:`m3plugins.structures.DataContract`), and training saves it into the
checkpoint. Inference with a checkpoint saved before contracts existed has
only the config; :func:`declared_contract` reads the contract from the
config's dataset entry instead, without building the dataset (its files are
usually not on the inference machine). Each dataset family says how through
a classmethod ``contract_from_config(cfg, modality_channels)``
(``HSISceneDataset``, the ISPRS tile and clip datasets), with its defaults
written once as module constants, so nothing inspects constructor
signatures.
"""
from collections.abc import Mapping
from typing import Any

from mmseg.registry import DATASETS

from ..structures import DataContract

__all__ = ['declared_contract', 'innermost_dataset_config']

#: Keys under which mmengine's dataset wrappers hold the wrapped config(s)
#: (``RepeatDataset``, ``ClassBalancedDataset``: ``dataset``;
#: ``ConcatDataset``: ``datasets``).
WRAPPER_KEYS = ('dataset', 'datasets')


def innermost_dataset_config(cfg: Any) -> Mapping[str, Any] | None:
    """The dataset config inside any wrappers (the first of a concatenation).

    Args:
        cfg: A dataset config, possibly a wrapper's, or a list of them.

    Returns:
        The innermost dataset config, or None for an empty one.
    """
    for _ in range(16):  # wrappers nest a few levels at most
        if isinstance(cfg, (list, tuple)):
            cfg = cfg[0] if cfg else None
            continue
        if not isinstance(cfg, Mapping):
            return None
        inner = next((cfg[key] for key in WRAPPER_KEYS if key in cfg), None)
        if inner is None:
            return cfg
        cfg = inner
    return None


def declared_contract(
        dataset_cfg: Mapping[str, Any] | None,
        modality_channels: Mapping[str, int] | None = None
) -> DataContract | None:
    """The contract a dataset config declares (no file is read).

    Args:
        dataset_cfg: A dataset config (``test_dataloader.dataset``), wrappers
            looked through.
        modality_channels: Bands per modality where the dataset cannot know
            them without its files (a hyperspectral scene's band subset):
            the model's layout.

    Returns:
        The contract, or None for a dataset type that declares none (a plain
        MMSeg dataset, a user's own class).

    Raises:
        KeyError: If the config names an unregistered dataset type.
    """
    cfg = innermost_dataset_config(dataset_cfg)
    if cfg is None or 'type' not in cfg:
        return None
    dataset_class = cfg['type']
    if isinstance(dataset_class, str):
        dataset_class = DATASETS.get(dataset_class)
        if dataset_class is None:
            raise KeyError(f'Dataset type {cfg["type"]!r} is not registered '
                           '(is custom_imports missing from the config?).')
    build = getattr(dataset_class, 'contract_from_config', None)
    if build is None:
        return None
    return build(cfg, modality_channels)
