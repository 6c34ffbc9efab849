"""Weights for the frozen foundation tower: local files, tags, hints.

A tower's weights come from a named pretrained tag (downloaded by open_clip
or timm) or from a local file. This module reads local files, loads them
into a timm tower, tells a file path from a tag, and writes the error
message that names the file to fetch when a tag cannot be downloaded
(typically on a machine without network access).
"""
import os
import os.path as osp
import sys

import torch
from torch import Tensor, nn

WEIGHT_FILE_SUFFIXES = ('.safetensors', '.pt', '.pth', '.bin', '.ckpt')


class PretrainedWeightsUnavailableError(RuntimeError):
    """Weights asked for by tag could not be fetched (e.g. offline)."""


def looks_like_path(value: str) -> bool:
    """Whether ``pretrained`` names a file rather than a weight tag.

    Args:
        value: The ``pretrained`` string.

    Returns:
        bool: True for a value with a path separator, a leading ``.`` or a
        weight-file suffix.
    """
    return (os.sep in value or value.startswith('.')
            or value.lower().endswith(WEIGHT_FILE_SUFFIXES))


def load_state_dict_file(path: str) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a torch pickle.

    Torch files are read with ``weights_only=True``; a dict nesting the
    weights under ``state_dict``, ``model`` or ``module`` is unwrapped.

    Args:
        path: Local file path.

    Returns:
        dict[str, Tensor]: The state dict.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file cannot be read as a state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Weight file {path!r} does not exist.')
    try:
        if path.lower().endswith('.safetensors'):
            from safetensors.torch import load_file
            state = load_file(path, device='cpu')
        else:
            state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # corrupt or foreign file
        raise ValueError(
            f'Could not read weight file {path!r} as a state dict '
            f'({type(error).__name__}: {error}).') from error
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
            isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f'Weight file {path!r} does not hold a state dict '
                         '(a mapping of parameter names to tensors).')
    return state


def load_timm_weight_file(tower: nn.Module, path: str, name: str,
                          strict: bool) -> None:
    """Load a local timm or official (e.g. DINOv2) state dict into a tower.

    The timm model module's ``checkpoint_filter_fn``, where it has one,
    maps official layouts to timm's and resizes position embeddings.

    Args:
        tower: The timm ViT built with random weights.
        path: Local weight file.
        name: timm model name, for the error message.
        strict: Fail on missing or unexpected keys.

    Raises:
        ValueError: If ``strict`` and the keys do not match.
    """
    state = load_state_dict_file(path)
    module = sys.modules.get(type(tower).__module__)
    filter_fn = getattr(module, 'checkpoint_filter_fn', None)
    if filter_fn is not None:  # official layouts, pos-embed resizing
        state = filter_fn(state, tower)
    result = tower.load_state_dict(state, strict=False)
    problems = []
    for label, keys in (('missing', result.missing_keys),
                        ('unexpected', result.unexpected_keys)):
        if keys:
            more = ' ...' if len(keys) > 8 else ''
            problems.append(f'{label} keys {keys[:8]}{more}')
    if problems and strict:
        raise ValueError(
            f'Weight file {path!r} does not match timm model '
            f'{name!r}: {"; ".join(problems)}. Check the model name '
            '(size, patch, registers) or pass strict=False.')


def open_clip_download_hint(name: str, tag: str, tag_cfg: dict,
                            error: Exception) -> str:
    """Say which file to fetch by hand for an open_clip tag.

    Args:
        name: open_clip model name, e.g. ``'ViT-B-32'``.
        tag: Its pretrained tag, e.g. ``'openai'``.
        tag_cfg: ``open_clip.get_pretrained_cfg(name, tag)``.
        error: The download error.

    Returns:
        str: The message for :class:`PretrainedWeightsUnavailableError`.
    """
    where = []
    if tag_cfg.get('hf_hub'):
        repo, filename = osp.split(tag_cfg['hf_hub'].rstrip('/'))
        if tag_cfg['hf_hub'].endswith('/'):
            repo = tag_cfg['hf_hub'].rstrip('/')
            filename = 'open_clip_model.safetensors (or ' \
                       'open_clip_pytorch_model.bin)'
        where.append(f'{filename} from https://huggingface.co/{repo}')
    if tag_cfg.get('url'):
        where.append(tag_cfg['url'])
    return (f'Could not download open_clip weights {name!r} / {tag!r} '
            f'({type(error).__name__}: {error}). Without network access, '
            f'download {" or ".join(where)} on a machine with internet, '
            'copy it here and pass its local path as pretrained='
            "'/path/to/file' (keep the model name).")


def timm_download_hint(full_name: str, error: Exception) -> str:
    """Say which file to fetch by hand for timm weights ``base.tag``.

    Args:
        full_name: timm model name with its weight tag.
        error: The download error.

    Returns:
        str: The message for :class:`PretrainedWeightsUnavailableError`.
    """
    import timm
    try:
        cfg = timm.models.get_pretrained_cfg(full_name)
    except Exception:  # unknown tag: let timm's message speak
        cfg = None
    if cfg is None:
        return (f'timm has no weights {full_name!r} '
                f'({type(error).__name__}: {error}).')
    where = []
    if cfg.hf_hub_id:
        filename = cfg.hf_hub_filename or 'model.safetensors'
        where.append(
            f'{filename} from https://huggingface.co/{cfg.hf_hub_id}')
    if cfg.url:
        where.append(cfg.url)
    return (f'Could not download timm weights {full_name!r} '
            f'({type(error).__name__}: {error}). Without network access, '
            f'download {" or ".join(where)} on a machine with internet, '
            'copy it here and pass its local path as pretrained='
            "'/path/to/file'.")
