"""An open_clip image tower as the frozen tower of the foundation model.

Builds an open_clip CLIP ViT, keeps its image tower (``clip.visual``) and
drops the text tower, with weights from an open_clip pretrained tag, a local
CLIP checkpoint or none, and gives the pieces of it
:class:`FrozenFoundationModel` needs: patch embedding, blocks, token
preparation, final norm and pooled projection. open_clip (and timm, for
position-embedding resampling) is imported only when it is used.
"""
import os.path as osp

import torch
from torch import Tensor, nn

from .weight_files import (
    PretrainedWeightsUnavailableError,
    looks_like_path,
    open_clip_download_hint,
)


def build_open_clip_tower(name: str, pretrained: None | bool | str,
                          model_kwargs: dict,
                          cache_dir: str | None) -> tuple[nn.Module, dict]:
    """Create the CLIP model, keep its image tower and read its attributes.

    Args:
        name: open_clip model name, e.g. ``'ViT-B-32'``.
        pretrained: ``None`` / ``False``, an open_clip pretrained tag or a
            local file, as in :class:`FrozenFoundationModel`.
        model_kwargs: Extra keyword arguments for
            ``open_clip.create_model``; a tag needing QuickGELU sets
            ``force_quick_gelu=True`` here unless given.
        cache_dir: Download cache for tags.

    Returns:
        tuple[nn.Module, dict]: The image tower and the wrapper attributes
        (``embed_dim``, ``patch_size``, ``num_prefix_tokens``,
        ``output_dim``, ``image_size``, ``mean``, ``std``,
        ``_batch_first``, ``_pretrained_grid``).

    Raises:
        ValueError: For ``pretrained=True`` or an unknown tag.
        FileNotFoundError: If a weight file path does not exist.
        PretrainedWeightsUnavailableError: If a tag cannot be downloaded.
    """
    import open_clip
    if pretrained is True:
        raise ValueError(
            'For open_clip, pretrained must be a tag (one of '
            f'{open_clip.list_pretrained_tags_by_model(name)}) or a file '
            'path, not True.')
    pretrained = pretrained or None
    tag_cfg = {}
    if pretrained is not None and not osp.isfile(pretrained):
        if looks_like_path(pretrained):
            raise FileNotFoundError(
                f'open_clip weight file {pretrained!r} does not exist.')
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if not tag_cfg:
            raise ValueError(
                f'{pretrained!r} is neither a file nor a pretrained tag '
                f'of open_clip model {name!r}; known tags: '
                f'{open_clip.list_pretrained_tags_by_model(name)}.')
        if tag_cfg.get('quick_gelu'):
            model_kwargs.setdefault('force_quick_gelu', True)
    try:
        clip = open_clip.create_model(
            name, pretrained=pretrained, cache_dir=cache_dir, **model_kwargs)
    except Exception as error:
        if tag_cfg:
            raise PretrainedWeightsUnavailableError(
                open_clip_download_hint(name, pretrained, tag_cfg,
                                        error)) from error
        raise
    visual = clip.visual
    del clip  # the text tower is not needed
    attributes = dict(
        _batch_first=getattr(visual.transformer, 'batch_first', True),
        embed_dim=visual.conv1.out_channels,
        patch_size=int(visual.patch_size[0]),
        num_prefix_tokens=1,
        output_dim=int(visual.output_dim),
        image_size=tuple(int(s) for s in visual.image_size),
        _pretrained_grid=tuple(int(g) for g in visual.grid_size),
        mean=tuple(getattr(visual, 'image_mean', None)
                   or open_clip.OPENAI_DATASET_MEAN),
        std=tuple(getattr(visual, 'image_std', None)
                  or open_clip.OPENAI_DATASET_STD))
    return visual, attributes


def patch_embed(tower: nn.Module) -> nn.Module:
    """The tower's patch embedding (the ``conv1`` convolution)."""
    return tower.conv1


def blocks(tower: nn.Module) -> nn.ModuleList:
    """The tower's transformer blocks."""
    return tower.transformer.resblocks


def patches_as_grid(out: Tensor, grid: tuple[int, int]) -> Tensor:
    """``conv1`` output (B, C, h, w) as a (B, h, w, C) grid.

    Args:
        out: (B, C, h, w).
        grid: (h, w); the convolution output already has it.

    Returns:
        Tensor: (B, h, w, C).
    """
    del grid
    return out.permute(0, 2, 3, 1)


def tokens_from_patches(tower: nn.Module, grid_tokens: Tensor,
                        pretrained_grid: tuple[int, int]) -> Tensor:
    """Class token, interpolated position embeddings and ``ln_pre``.

    Args:
        tower: The CLIP image tower.
        grid_tokens: (B, h, w, C) patch grid.
        pretrained_grid: Grid the position embeddings were trained on;
            another grid resamples them.

    Returns:
        Tensor: (B, 1 + h * w, C) tokens.
    """
    from timm.layers import resample_abs_pos_embed
    batch, grid_h, grid_w, channels = grid_tokens.shape
    pos = tower.positional_embedding
    if (grid_h, grid_w) != pretrained_grid:
        pos = resample_abs_pos_embed(
            pos.unsqueeze(0), new_size=(grid_h, grid_w),
            old_size=pretrained_grid, num_prefix_tokens=1)[0]
    cls = tower.class_embedding.reshape(1, 1, -1).expand(batch, -1, -1)
    tokens = torch.cat(
        [cls.to(grid_tokens.dtype),
         grid_tokens.reshape(batch, grid_h * grid_w, channels)], dim=1)
    tokens = tokens + pos.to(tokens.dtype)
    tokens = tower.patch_dropout(tokens)
    return tower.ln_pre(tokens)


def final_norm(tower: nn.Module, tokens: Tensor) -> Tensor:
    """The tower's last LayerNorm (``ln_post``)."""
    return tower.ln_post(tokens)


def pool(tower: nn.Module, tokens: Tensor) -> Tensor:
    """CLIP pooling and projection of the block output: (B, output_dim)."""
    pooled, _ = tower._pool(tokens)
    if tower.proj is not None:
        pooled = pooled @ tower.proj
    return pooled
