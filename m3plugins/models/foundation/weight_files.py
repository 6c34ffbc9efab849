"""Weights for the frozen foundation tower: local files, tags, hints.

A tower's weights come from a named pretrained tag (downloaded by open_clip
or timm) or from a local file. This module reads local files, loads them
into a timm tower, tells a file path from a tag, and writes the error
message that names the file to fetch when a tag cannot be downloaded
(typically on a machine without network access).

:func:`check_config_pretrained_weights` asks the same questions of a config
before anything is built: the tools call it first, so that a missing weight
file or a tag that cannot be fetched ends the run in a second instead of
after the data pipeline and the rest of the model were built.
"""
import os
import os.path as osp
import sys
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

WEIGHT_FILE_SUFFIXES = ('.safetensors', '.pt', '.pth', '.bin', '.ckpt')
#: Files the hubs hold a model's weights in, when its config names none.
HUB_WEIGHT_FILENAMES = ('model.safetensors', 'pytorch_model.bin',
                        'open_clip_model.safetensors',
                        'open_clip_pytorch_model.bin')
#: Seconds to wait for the hub to answer whether a file can be fetched.
HUB_PROBE_TIMEOUT = 10


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


def _hub_file_cached(repo: str, filenames: Sequence[str],
                     cache_dir: str | None) -> bool:
    """Whether the Hugging Face cache holds one of ``repo``'s files."""
    from huggingface_hub import try_to_load_from_cache
    return any(
        isinstance(try_to_load_from_cache(repo, filename,
                                          cache_dir=cache_dir), str)
        for filename in filenames)


def _url_file_cached(url: str, cache_dir: str) -> bool:
    """Whether ``cache_dir`` holds the file a URL would download."""
    return osp.isfile(osp.join(cache_dir, osp.basename(url.split('?')[0])))


def _probe(repo: str | None, filename: str | None,
           url: str | None) -> Exception | None:
    """Ask whether weights can be fetched (a header request, no download).

    Returns:
        Exception | None: Why not, or None when the hub answers.
    """
    if os.environ.get('HF_HUB_OFFLINE', '').upper() in ('1', 'ON', 'YES',
                                                        'TRUE'):
        return ConnectionError('HF_HUB_OFFLINE is set and the file is not '
                               'in the local cache')
    try:
        if repo is not None:
            from huggingface_hub import get_hf_file_metadata, hf_hub_url
            get_hf_file_metadata(hf_hub_url(repo, filename),
                                 timeout=HUB_PROBE_TIMEOUT)
        else:
            import urllib.request
            request = urllib.request.Request(url, method='HEAD')
            urllib.request.urlopen(request, timeout=HUB_PROBE_TIMEOUT).close()
    except Exception as error:  # no network, no such file, refused
        return error
    return None


def _timm_tag_problem(name: str, tag: str,
                      cache_dir: str | None) -> str | None:
    """Why timm weights ``name`` / ``tag`` cannot be loaded, or None."""
    import timm
    import torch.hub
    full = f'{name.partition(".")[0]}.{tag}'
    try:
        cfg = timm.models.get_pretrained_cfg(full)
    except RuntimeError as error:  # a tag timm does not know
        return timm_download_hint(full, error)
    if cfg is None:  # no weights registered: the build says so
        return None
    filenames = ((cfg.hf_hub_filename, ) if cfg.hf_hub_filename else
                 HUB_WEIGHT_FILENAMES)
    if cfg.hf_hub_id and _hub_file_cached(cfg.hf_hub_id, filenames,
                                          cache_dir):
        return None
    if cfg.url and _url_file_cached(
            cfg.url, osp.join(torch.hub.get_dir(), 'checkpoints')):
        return None
    error = _probe(cfg.hf_hub_id or None, filenames[0], cfg.url or None)
    return None if error is None else timm_download_hint(full, error)


def _open_clip_tag_problem(name: str, tag: str,
                           cache_dir: str | None) -> str | None:
    """Why open_clip weights ``name`` / ``tag`` cannot be loaded, or None."""
    import open_clip
    tag_cfg = open_clip.get_pretrained_cfg(name, tag)
    if not tag_cfg:  # an unknown tag: the build lists the known ones
        return None
    repo, filename = osp.split(tag_cfg.get('hf_hub', ''))
    filenames = (filename, ) if filename else HUB_WEIGHT_FILENAMES[2:]
    if repo and _hub_file_cached(repo, filenames, cache_dir):
        return None
    url = tag_cfg.get('url')
    if url and _url_file_cached(
            url, cache_dir or osp.expanduser('~/.cache/clip')):
        return None
    error = _probe(repo or None, filenames[0], url)
    return (None if error is None else
            open_clip_download_hint(name, tag, tag_cfg, error))


def pretrained_weights_problem(source: str, name: str,
                               pretrained: None | bool | str,
                               cache_dir: str | None = None) -> str | None:
    """Why a tower's ``pretrained`` weights cannot be loaded, without loading.

    Nothing is downloaded: a local file must exist; a tag must be in the
    Hugging Face / torch hub / open_clip cache, or the hub must answer that
    it can be fetched (a header request, skipped when ``HF_HUB_OFFLINE`` is
    set).

    Args:
        source: ``'timm'`` or ``'open_clip'``.
        name: The tower's model name (timm: ``base`` or ``base.tag``).
        pretrained: As :class:`FrozenFoundationModel` takes it.
        cache_dir: The tower's download cache (None: the libraries').

    Returns:
        str | None: The message naming the file to get, or None when the
        weights are there (or none are asked for).
    """
    if pretrained is True and source == 'timm':
        pretrained = name.partition('.')[2] or None
    if not isinstance(pretrained, str) or not pretrained:
        return None  # random weights, or a config error the build reports
    if osp.isfile(pretrained):
        return None
    if looks_like_path(pretrained):
        return (f'The {source} weight file {pretrained!r} does not exist '
                f'(looked for {osp.abspath(pretrained)}). Put the file '
                'there, or point pretrained at it.')
    if source == 'open_clip':
        return _open_clip_tag_problem(name, pretrained, cache_dir)
    return _timm_tag_problem(name, pretrained, cache_dir)


def _foundation_models(node, where: str) -> Iterator[tuple[str, dict]]:
    """``(config path, foundation_model dict)`` of every tower in a model."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'foundation_model' and isinstance(value, dict):
                yield f'{where}.{key}', value
            else:
                yield from _foundation_models(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _foundation_models(value, f'{where}[{index}]')


def check_config_pretrained_weights(model_cfg: dict,
                                    where: str = 'model') -> None:
    """Check a config's frozen-tower weights before anything is built.

    Walks ``model_cfg`` for ``foundation_model`` entries and checks each
    one's ``pretrained`` with :func:`pretrained_weights_problem` (the
    tower's defaults for keys the entry leaves out).

    Args:
        model_cfg: The config's ``model`` (dict or ConfigDict).
        where: How the config names ``model_cfg``, for the message.

    Raises:
        PretrainedWeightsUnavailableError: Naming the config key, the
            missing file or the file to download and where to put it.
    """
    import inspect

    from .frozen_foundation_model import FrozenFoundationModel
    defaults = {
        key: parameter.default for key, parameter in inspect.signature(
            FrozenFoundationModel.__init__).parameters.items()
    }
    for path, entry in _foundation_models(model_cfg, where):
        settings = {key: entry.get(key, defaults.get(key))
                    for key in ('source', 'name', 'pretrained', 'cache_dir')}
        problem = pretrained_weights_problem(**settings)
        if problem is not None:
            raise PretrainedWeightsUnavailableError(
                f'{path}.pretrained={settings["pretrained"]!r}: {problem} '
                '(Or set it to None for a randomly initialised tower.)')
