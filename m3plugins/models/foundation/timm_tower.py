"""A timm ViT as the frozen tower of :class:`FrozenFoundationModel`.

Builds a plain timm vision transformer (for example DINOv2
``vit_large_patch14_dinov2.lvd142m``) with ``dynamic_img_size=True``, with
weights from a timm tag, a local file or none, and gives the pieces of it
the wrapper needs: patch embedding, blocks, token preparation, final norm
and pooled head. timm is imported only when a tower is built.
"""
import os.path as osp

from torch import Tensor, nn

from .weight_files import (
    PretrainedWeightsUnavailableError,
    load_timm_weight_file,
    looks_like_path,
    timm_download_hint,
)


def build_timm_tower(name: str, pretrained: None | bool | str,
                     model_kwargs: dict,
                     strict: bool) -> tuple[nn.Module, dict]:
    """Create the timm ViT and read the interface attributes off it.

    Args:
        name: timm model name; a ``.tag`` suffix names the hub weights
            ``pretrained=True`` downloads.
        pretrained: ``None`` / ``False``, ``True``, a weight tag or a local
            file, as in :class:`FrozenFoundationModel`.
        model_kwargs: Extra keyword arguments for ``timm.create_model``.
        strict: For a local file, fail on missing or unexpected keys.

    Returns:
        tuple[nn.Module, dict]: The tower and the wrapper attributes
        (``embed_dim``, ``patch_size``, ``num_prefix_tokens``,
        ``output_dim``, ``image_size``, ``mean``, ``std``,
        ``_batch_first``, ``_pretrained_grid``).

    Raises:
        ValueError: For ``pretrained=True`` without a tag in ``name``, a
            model that is not a plain ViT, or a mismatching file.
        FileNotFoundError: If a weight file path does not exist.
        PretrainedWeightsUnavailableError: If a tag cannot be downloaded.
    """
    import timm
    base, _, default_tag = name.partition('.')
    load_path = None
    if pretrained is True:
        pretrained = default_tag or None
        if pretrained is None:
            raise ValueError(
                f'timm model name {name!r} has no weight tag; give '
                'pretrained a tag such as "lvd142m" or a file path.')
    if isinstance(pretrained, str):
        if osp.isfile(pretrained) or looks_like_path(pretrained):
            load_path = pretrained
            if not osp.isfile(load_path):
                raise FileNotFoundError(
                    f'timm weight file {load_path!r} does not exist.')
            pretrained = None
    if pretrained:
        full = f'{base}.{pretrained}'
        try:
            tower = timm.create_model(
                full, pretrained=True, dynamic_img_size=True,
                **model_kwargs)
        except Exception as error:
            raise PretrainedWeightsUnavailableError(
                timm_download_hint(full, error)) from error
    else:
        tower = timm.create_model(
            name, pretrained=False, dynamic_img_size=True, **model_kwargs)
    if not hasattr(tower, 'blocks') or not hasattr(tower, 'patch_embed'):
        raise ValueError(f'timm model {name!r} is not a plain ViT '
                         '(it needs patch_embed and blocks).')
    if load_path is not None:
        load_timm_weight_file(tower, load_path, name, strict)
    cfg = tower.pretrained_cfg or {}
    attributes = dict(
        _batch_first=True,
        embed_dim=int(tower.embed_dim),
        patch_size=int(tower.patch_embed.patch_size[0]),
        num_prefix_tokens=int(tower.num_prefix_tokens),
        output_dim=int(tower.num_features
                       if tower.num_classes == 0 else tower.num_classes),
        image_size=tuple(int(s) for s in tower.patch_embed.img_size),
        _pretrained_grid=tuple(int(g) for g in tower.patch_embed.grid_size),
        mean=tuple(cfg.get('mean', (0.485, 0.456, 0.406))),
        std=tuple(cfg.get('std', (0.229, 0.224, 0.225))))
    return tower, attributes


def patch_embed(tower: nn.Module) -> nn.Module:
    """The tower's ``PatchEmbed``."""
    return tower.patch_embed


def blocks(tower: nn.Module) -> nn.ModuleList:
    """The tower's transformer blocks."""
    return tower.blocks


def patches_as_grid(out: Tensor, grid: tuple[int, int]) -> Tensor:
    """Patch-embedding output as a (B, h, w, C) grid.

    Args:
        out: (B, h, w, C), or (B, h * w, C) from a patch embed that
            flattens.
        grid: (h, w).

    Returns:
        Tensor: (B, h, w, C).
    """
    if out.dim() == 3:
        return out.reshape(out.shape[0], grid[0], grid[1], out.shape[-1])
    return out


def tokens_from_patches(tower: nn.Module, grid_tokens: Tensor,
                        pretrained_grid: tuple[int, int]) -> Tensor:
    """Prefix tokens, position embeddings and pre-norm on a patch grid.

    Args:
        tower: The timm ViT.
        grid_tokens: (B, h, w, C) patch grid.
        pretrained_grid: Unused: timm's ``_pos_embed`` resamples the
            position embeddings itself (``dynamic_img_size``).

    Returns:
        Tensor: (B, P + h * w, C) tokens.
    """
    del pretrained_grid
    tokens = tower._pos_embed(grid_tokens)
    tokens = tower.patch_drop(tokens)
    return tower.norm_pre(tokens)


def final_norm(tower: nn.Module, tokens: Tensor) -> Tensor:
    """The tower's last LayerNorm."""
    return tower.norm(tokens)


def pool(tower: nn.Module, tokens: Tensor) -> Tensor:
    """Final norm and timm's head on the block output: (B, output_dim)."""
    return tower.forward_head(tower.norm(tokens))
