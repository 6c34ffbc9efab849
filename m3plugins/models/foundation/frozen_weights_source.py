"""The named source of a frozen tower's weights, identified by their hash.

M3amba (Cao et al., arXiv 2503.06446; official code kaka-Cao/M3amba) and
MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet) train a
few million parameters around a frozen pretrained ViT (CLIP ViT-B/32, DINOv2
ViT-L/14: 304M parameters, 1.2 GB in float32). Those frozen weights never
change, so a checkpoint need not carry them when they can be read again
from where they came from: a local weight file or a pretrained tag
(open_clip ``'openai'``, timm ``'lvd142m'``).

A :class:`FrozenWeightsSource` names that source and pins it by the
SHA-256 of the tower's tensors as loaded into the model
(:func:`tensors_sha256`): loading the same file again must give the same
hash, so a moved, replaced or re-exported file is noticed instead of
silently giving other results. It is stored as builtins (loadable with
``torch.load(weights_only=True)``) in the checkpoint's state-dict metadata,
where the tower's own load hook finds it
(:meth:`~m3plugins.models.foundation.FrozenFoundationModel.frozen_weights_record`).
"""
import hashlib
import os.path as osp
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .weight_files import PretrainedWeightsUnavailableError, looks_like_path

#: Key of a left-out tower's source in its state-dict metadata entry
#: (``state_dict._metadata[<module name>]``).
SOURCE_METADATA_KEY = 'frozen_weights_source'

__all__ = [
    'SOURCE_METADATA_KEY', 'FrozenWeightsSource', 'FrozenWeightsSourceError',
    'named_source', 'tensors_sha256'
]


class FrozenWeightsSourceError(PretrainedWeightsUnavailableError):
    """A left-out frozen tower cannot be re-attached from its source."""


def tensors_sha256(state: Mapping[str, Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and bytes.

    Keys are hashed in sorted order, so the hash does not depend on the
    order of the mapping; the tensors' CPU bytes are hashed, so it does not
    depend on the device.

    Args:
        state: Name -> tensor (e.g. a tower's ``state_dict()``).

    Returns:
        str: 64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach()
        header = f'{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0'
        digest.update(header.encode())
        raw = tensor.cpu().contiguous().reshape(-1)
        digest.update(raw.view(torch.uint8).numpy())
    return digest.hexdigest()


@dataclass(frozen=True)
class FrozenWeightsSource:
    """Where a frozen tower's weights come from, and their hash.

    Args:
        pretrained: The ``pretrained`` value the weights were loaded with:
            a file path as given, or a weight tag.
        kind: ``'file'`` or ``'tag'``.
        path: Absolute path of the file (``None`` for a tag).
        tower: The tower it fits, e.g. ``'timm vit_large_patch14_dinov2'``.
        sha256: :func:`tensors_sha256` of the tower's tensors.
        num_tensors: Number of tensors in the tower's state dict.
    """

    pretrained: str
    kind: str
    path: str | None
    tower: str
    sha256: str
    num_tensors: int

    def to_dict(self) -> dict:
        """The record as builtins, for a checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping) -> 'FrozenWeightsSource':
        """Read a record written by :meth:`to_dict`."""
        return cls(**{key: record.get(key) for key in (
            'pretrained', 'kind', 'path', 'tower', 'sha256',
            'num_tensors')})

    def candidates(self) -> list[str]:
        """Values to load the source from: the path as given, then absolute.

        A relative path recorded in one working directory is also found
        from another through its absolute form; a tag is itself.
        """
        if self.kind != 'file':
            return [self.pretrained]
        return list(dict.fromkeys(
            p for p in (self.pretrained, self.path) if p))

    def describe(self) -> str:
        """``file '/x/y.safetensors' (sha256 ab12...)`` for messages."""
        where = self.path or self.pretrained
        return (f'{self.kind} {where!r} (sha256 {self.sha256}) for '
                f'{self.tower}')


def named_source(pretrained, name: str) -> tuple[str, str, str | None] | None:
    """The named source a ``pretrained`` value loads from, if any.

    Args:
        pretrained: As :class:`FrozenFoundationModel`'s argument: ``None`` /
            ``False`` (random weights), ``True`` (the tag in ``name``), a
            tag or a file path.
        name: The tower's model name (``base.tag`` for timm).

    Returns:
        tuple | None: ``(pretrained, kind, absolute path or None)``, or None
        for random weights.
    """
    if pretrained is None or pretrained is False:
        return None
    if pretrained is True:
        tag = name.partition('.')[2]
        return (tag, 'tag', None) if tag else None
    pretrained = str(pretrained)
    if osp.isfile(pretrained) or looks_like_path(pretrained):
        return pretrained, 'file', osp.abspath(pretrained)
    return pretrained, 'tag', None
