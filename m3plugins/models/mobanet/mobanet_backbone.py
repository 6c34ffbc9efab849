"""MoBaNet dual-stream backbone: one frozen ViT for optical and DSM tokens.

MoBaNet (Li et al., arXiv 2603.17705; official code sauryeo/MoBaNet)
segments optical (RGB / IRRG) imagery with its DSM by running both through a
single frozen vision foundation model (DINOv2 ViT-L/14 officially). The DSM,
one band repeated to three, is tokenised by a trainable copy of the patch
embedding; before every stage a Cross-modal Prompt-Injected Adapter (CPIA)
exchanges information between the two token streams.
"""
from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from m3plugins.utils.modalities import (
    ModalityLayout,
    ordered_modality_channels,
    split_modalities,
)

from ..foundation.frozen_foundation_model import FrozenFoundationModel
from .cross_modal_prompt_injected_adapter import (
    CrossModalPromptInjectedAdapter,
)

#: Official tap blocks (0-based, features taken after the block) by depth:
#: ViT-L (24 blocks) and ViT-B / ViT-S (12 blocks).
DEFAULT_TAPS = {24: (5, 11, 17, 23), 12: (2, 5, 8, 11)}


def default_tap_indices(num_blocks: int, num_stages: int = 4) -> tuple[int]:
    """Official taps for 24 / 12 blocks; evenly spaced otherwise.

    For other depths the last block of each of ``num_stages`` equal groups
    is tapped (an m3plugins choice that reproduces both official sets).
    """
    if num_blocks in DEFAULT_TAPS and num_stages == 4:
        return DEFAULT_TAPS[num_blocks]
    if num_stages > num_blocks:
        raise ValueError(f'Cannot tap {num_stages} stages from '
                         f'{num_blocks} blocks.')
    return tuple(round(num_blocks * (s + 1) / num_stages) - 1
                 for s in range(num_stages))


@MODELS.register_module()
class MoBaNetBackbone(BaseModule):
    """Frozen-ViT dual stream (optical + DSM) with CPIA before each stage.

    Input is one channel-stacked batch (B, C_opt + C_dsm, H, W) laid out by
    ``modality_channels`` (see :mod:`m3plugins.utils.modalities` and
    :mod:`m3plugins.utils.modalities`); the first
    modality goes through the frozen patch embedding, the second through its
    trainable copy. A 1-band second modality is repeated to 3 channels. H
    and W are zero-padded at the bottom / right to a multiple of the patch
    size (256 -> 266 for /14 patches, a 19 x 19 grid); the output maps cover
    the padded area, and :class:`~m3plugins.models.mobanet.MoBaNetSegmentor`
    crops its logits back to the input.

    Per stage s with tap block k_s: CPIA on both streams' patch tokens, the
    frozen blocks k_{s-1}+1 .. k_s on each stream (shared weights), then the
    tower's final LayerNorm (``norm_taps``, as the official code) on the
    patch tokens, reshaped to maps.

    Args:
        foundation_model: Config of
            :class:`~m3plugins.models.foundation.FrozenFoundationModel`
            (``source``, ``name``, ``pretrained``, ``model_kwargs``).
        modality_channels: Modality -> channels in stacking order, optical
            first, DSM second: ``[('optical', 3), ('dsm', 1)]`` (pairs keep
            their order through mmengine's config dump) or a dict.
        tap_indices: Blocks after which a stage ends (0-based). Default:
            (5, 11, 17, 23) for 24 blocks, (2, 5, 8, 11) for 12, evenly
            spaced otherwise.
        cpia_ratio: CPIA hidden width = embed_dim * ratio (256 for ViT-L at
            the official 0.25).
        cpia_activation: Optional activation inside CPIA; ``None`` is the
            official (affine) form.
        use_cpia: Switch CPIA off for ablations.
        trainable_dsm_patch_embed: Give the DSM its own trainable copy of
            the patch embedding (official); ``False`` shares the frozen one.
        norm_taps: Apply the tower's final LayerNorm to tapped tokens.
        defer_pretrained: Build the tower with random weights and load
            ``foundation_model['pretrained']`` in :meth:`init_weights`,
            which mmengine's Runner calls after building the datasets: a
            missing dataset is reported before any weight download, and
            testing from a checkpoint (which holds the tower) needs no
            download at all. ``False`` loads at construction.
        init_cfg: mmengine init config (the tower is never re-initialised;
            the DSM patch embedding starts as a copy of the frozen one).

    Returns from :meth:`forward`:
        tuple[list[Tensor], list[Tensor]]: Optical and DSM maps, one
        (B, embed_dim, ceil(H / p), ceil(W / p)) tensor per stage.
    """

    def __init__(self,
                 foundation_model: dict = dict(
                     source='timm',
                     name='vit_large_patch14_dinov2.lvd142m',
                     pretrained=None),
                 modality_channels: ModalityLayout = (('optical', 3),
                                                      ('dsm', 1)),
                 tap_indices: Sequence[int] | None = None,
                 cpia_ratio: float = 0.25,
                 cpia_activation: dict | None = None,
                 use_cpia: bool = True,
                 trainable_dsm_patch_embed: bool = True,
                 norm_taps: bool = True,
                 defer_pretrained: bool = True,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        self.modality_channels = ordered_modality_channels(
            modality_channels)
        if len(self.modality_channels) != 2:
            raise ValueError(
                'MoBaNetBackbone takes exactly two modalities (optical, '
                f'DSM), got {list(self.modality_channels)}.')
        (self.optical_name, optical_ch), (self.dsm_name, dsm_ch) = \
            self.modality_channels.items()
        if optical_ch != 3:
            raise ValueError(
                f'Modality {self.optical_name!r} goes through the frozen RGB '
                f'patch embedding and needs 3 channels, got {optical_ch}. '
                'Select a 3-band variant (RGB or IRRG) in the dataset.')
        if dsm_ch not in (1, 3):
            raise ValueError(f'Modality {self.dsm_name!r} must have 1 band '
                             f'(repeated to 3) or 3, got {dsm_ch}.')
        foundation_model = dict(foundation_model)
        self.deferred_pretrained = None
        if defer_pretrained:
            self.deferred_pretrained = foundation_model.pop('pretrained',
                                                            None)
            foundation_model['pretrained'] = None
            if self.deferred_pretrained and \
                    foundation_model.get('source', 'timm') == 'timm':
                # The weights are replaced in init_weights: skip timm's
                # random init (half of the ViT-L build time).
                kwargs = dict(foundation_model.get('model_kwargs') or {})
                kwargs.setdefault('weight_init', 'skip')
                foundation_model['model_kwargs'] = kwargs
        self.foundation = FrozenFoundationModel(**foundation_model)
        num_blocks = self.foundation.num_blocks
        taps = tuple(int(t) for t in (
            tap_indices if tap_indices is not None else
            default_tap_indices(num_blocks)))
        if not taps or list(taps) != sorted(set(taps)) or taps[0] < 0 \
                or taps[-1] >= num_blocks:
            raise ValueError(
                f'tap_indices must be strictly increasing block indices in '
                f'0..{num_blocks - 1}, got {taps}.')
        self.tap_indices = taps
        self.num_stages = len(taps)
        self.embed_dim = self.foundation.embed_dim
        self.patch_size = self.foundation.patch_size
        self.use_cpia = use_cpia
        self.norm_taps = norm_taps
        self.dsm_patch_embed = (self.foundation.make_patch_embed_copy()
                                if trainable_dsm_patch_embed else None)
        self.cpia = nn.ModuleList([
            CrossModalPromptInjectedAdapter(
                self.embed_dim, ratio=cpia_ratio, activation=cpia_activation)
            for _ in taps
        ]) if use_cpia else None

    def init_weights(self):
        """Load deferred tower weights; restart the DSM patch embedding.

        The DSM patch embedding restarts from the (now pretrained) frozen
        one, as the official code does.
        """
        if self.deferred_pretrained:
            self.foundation.load_pretrained(self.deferred_pretrained)
            self.deferred_pretrained = None
            if self.dsm_patch_embed is not None:
                self.dsm_patch_embed.load_state_dict(
                    self.foundation.patch_embed.state_dict())
        super().init_weights()

    def _stream_tokens(self, image: Tensor,
                       patch_embed: nn.Module | None) -> Tensor:
        grid = self.foundation.embed_patches(image, patch_embed)
        return self.foundation.tokens_from_patches(grid)

    def forward(self, inputs: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Run both streams.

        Args:
            inputs: (B, C_opt + C_dsm, H, W) channel-stacked batch.

        Returns:
            tuple[list[Tensor], list[Tensor]]: Per-stage optical and DSM maps
            of shape (B, embed_dim, ceil(H / p), ceil(W / p)).

        Raises:
            ModalityError: Wrong channel count or NaN / Inf, naming the
                modality.
        """
        parts = split_modalities(inputs, self.modality_channels)
        optical = parts[self.optical_name]
        dsm = parts[self.dsm_name]
        if dsm.shape[1] == 1:
            dsm = dsm.expand(-1, 3, -1, -1)
        optical = self.foundation.pad_to_patch_multiple(optical)
        dsm = self.foundation.pad_to_patch_multiple(dsm)
        grid = (optical.shape[-2] // self.patch_size,
                optical.shape[-1] // self.patch_size)
        tokens_opt = self._stream_tokens(optical, None)
        tokens_dsm = self._stream_tokens(dsm, self.dsm_patch_embed)
        foundation = self.foundation
        optical_maps, dsm_maps = [], []
        start = 0
        for stage, tap in enumerate(self.tap_indices):
            if self.use_cpia:
                prefix_opt, patch_opt = foundation.split_prefix(tokens_opt)
                prefix_dsm, patch_dsm = foundation.split_prefix(tokens_dsm)
                patch_opt, patch_dsm = self.cpia[stage](patch_opt, patch_dsm)
                tokens_opt = torch.cat([prefix_opt, patch_opt], dim=1)
                tokens_dsm = torch.cat([prefix_dsm, patch_dsm], dim=1)
            tokens_opt = foundation.forward_blocks(tokens_opt, start, tap + 1)
            tokens_dsm = foundation.forward_blocks(tokens_dsm, start, tap + 1)
            start = tap + 1
            for tokens, maps in ((tokens_opt, optical_maps),
                                 (tokens_dsm, dsm_maps)):
                if self.norm_taps:
                    tokens = foundation.final_norm(tokens)
                _, patches = foundation.split_prefix(tokens)
                maps.append(foundation.patches_to_map(patches, grid))
        return optical_maps, dsm_maps

