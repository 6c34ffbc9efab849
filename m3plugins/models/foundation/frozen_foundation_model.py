"""A frozen ViT foundation model (open_clip or timm) behind one interface.

Both M3amba (Cao et al., arXiv 2503.06446) and MoBaNet (Li et al., arXiv
2603.17705) freeze a pretrained vision transformer and train small modules
around it. :class:`FrozenFoundationModel` builds that tower from open_clip
(any CLIP ViT, image tower only) or timm (for example DINOv2
``vit_large_patch14_dinov2.lvd142m``), loads its weights from a tag, a local
file or nothing, freezes it and keeps it in eval mode. The tower itself is
built in :mod:`.timm_tower` or :mod:`.open_clip_tower`, and weight files
and download hints live in :mod:`.weight_files`; this class dispatches on
``source`` and freezes.

Interface shared by both sources (what the models use):

Attributes:
    embed_dim (int): Token width (1024 for ViT-L).
    patch_size (int): Side of a square patch in pixels (14 for DINOv2).
    num_blocks (int): Number of transformer blocks.
    num_prefix_tokens (int): Class / register tokens before the patch tokens.
    output_dim (int): Size of the pooled embedding of :meth:`encode_image`
        (512 for CLIP ViT-B/32; ``embed_dim`` for timm towers without head).
    image_size (tuple[int, int]): Default input size (224 for CLIP).
    mean, std (tuple[float, ...]): The tower's pixel normalisation (0-1 scale).
    patch_embed (nn.Module): The frozen patch embedding; deep-copy it for a
        trainable per-modality copy and apply it with :meth:`embed_patches`.
    blocks (nn.ModuleList): The transformer blocks.

Methods:
    encode_image(x (B, 3, H, W)) -> (B, output_dim): pooled embedding.
    embed_patches(x (B, 3, H, W), patch_embed=None) -> (B, h, w, C).
    tokens_from_patches(grid (B, h, w, C)) -> (B, P + h * w, C): prefix
        tokens prepended and position embeddings added (interpolated to the
        grid), plus the tower's pre-norm.
    forward_blocks(tokens (B, N, C), start, end) -> (B, N, C): blocks
        ``start`` (inclusive) to ``end`` (exclusive).
    final_norm(tokens) -> tokens: the tower's last LayerNorm.
    split_prefix(tokens) -> (prefix (B, P, C), patches (B, h * w, C)).
    patches_to_map(patches (B, h * w, C), grid) -> (B, C, h, w).
    patch_grid(H, W) -> (h, w): grid of an input padded to the patch multiple.
    load_pretrained(pretrained): load weights into an already built tower.
    pad_to_patch_multiple(x (B, C, H, W)) -> (B, C, H', W'): zero padding at
        the bottom / right up to the next multiple of ``patch_size``.

The tower never trains: its parameters have ``requires_grad=False`` and
:meth:`train` keeps it in eval mode (dropout, patch dropout and stochastic
depth stay off) whatever the parent module asks.
"""
import copy
import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from . import open_clip_tower, timm_tower
from .open_clip_tower import build_open_clip_tower
from .timm_tower import build_timm_tower
from .weight_files import (
    PretrainedWeightsUnavailableError,
    load_state_dict_file,
)

SOURCES = ('open_clip', 'timm')
TOWER_MODULES = {'open_clip': open_clip_tower, 'timm': timm_tower}

__all__ = [
    'SOURCES',
    'FrozenFoundationModel',
    'PretrainedWeightsUnavailableError',
    'load_state_dict_file',
]


class FrozenFoundationModel(nn.Module):
    """A frozen ViT image tower from open_clip or timm.

    Args:
        source: ``'open_clip'`` or ``'timm'``.
        name: Model name, e.g. ``'ViT-B-32'`` (open_clip) or
            ``'vit_large_patch14_dinov2.lvd142m'`` (timm). For timm a
            ``.tag`` suffix names the hub weights used by ``pretrained=True``.
        pretrained: ``None`` / ``False`` for random weights; a local file
            (``.safetensors``, ``.pt``, ``.pth``, ``.bin``: an open_clip CLIP
            checkpoint, or a timm / official DINOv2 state dict); a tag (an
            open_clip pretrained tag such as ``'openai'``, or a timm weight
            tag such as ``'lvd142m'``); or ``True`` for timm's default tag.
            Tags are downloaded; offline, the error names the file to fetch
            and where from.
        model_kwargs: Extra keyword arguments for ``open_clip.create_model``
            (e.g. ``force_quick_gelu=True`` for OpenAI weights from a file,
            or ``vision_cfg=dict(...)`` for a custom size) or for
            ``timm.create_model`` (e.g. ``img_size=224``, ``depth=4``).
        strict: For timm local files, fail on missing or unexpected keys.
        cache_dir: Download cache for tags (open_clip only; timm uses the
            Hugging Face cache).
    """

    def __init__(self,
                 source: str = 'timm',
                 name: str = 'vit_large_patch14_dinov2.lvd142m',
                 pretrained: None | bool | str = None,
                 model_kwargs: dict | None = None,
                 strict: bool = True,
                 cache_dir: str | None = None):
        super().__init__()
        if source not in SOURCES:
            raise ValueError(
                f'source must be one of {SOURCES}, got {source!r}.')
        self.source = source
        self.name = name
        self._build_args = dict(source=source, name=name,
                                model_kwargs=dict(model_kwargs or {}),
                                strict=strict, cache_dir=cache_dir)
        model_kwargs = dict(model_kwargs or {})
        if source == 'open_clip':
            tower, attributes = build_open_clip_tower(
                name, pretrained, model_kwargs, cache_dir)
        else:
            tower, attributes = build_timm_tower(name, pretrained,
                                                 model_kwargs, strict)
        self.tower = tower
        for key, value in attributes.items():
            setattr(self, key, value)
        self.tower.requires_grad_(False)
        self.tower.eval()

    @property
    def _tower_ops(self):
        """The module with the source-specific functions of the tower."""
        return TOWER_MODULES[self.source]

    def load_pretrained(self, pretrained: bool | str) -> None:
        """Load weights (tag, ``True`` or file, as ``pretrained`` above) now.

        Lets a model build with random weights and load the real ones later
        (MoBaNet does it in ``init_weights``, after mmengine has built the
        datasets, so a missing dataset is reported before any download).
        """
        loaded = FrozenFoundationModel(pretrained=pretrained,
                                       **self._build_args)
        self.tower.load_state_dict(loaded.tower.state_dict())
        self.mean, self.std = loaded.mean, loaded.std
        self.tower.requires_grad_(False)
        self.tower.eval()

    # ------------------------------------------------------------------ mode
    def init_weights(self):
        """No-op: mmengine's init pass must not re-initialise the tower."""

    def train(self, mode: bool = True) -> 'FrozenFoundationModel':
        """Set the training flag of this wrapper; the tower stays in eval."""
        super().train(mode)
        self.tower.eval()
        return self

    # ----------------------------------------------------------- patch grids
    def patch_grid(self, height: int, width: int) -> tuple[int, int]:
        """Patch grid of an input padded to the patch multiple."""
        return (math.ceil(height / self.patch_size),
                math.ceil(width / self.patch_size))

    def pad_to_patch_multiple(self, x: Tensor, value: float = 0.) -> Tensor:
        """Pad (B, C, H, W) at the bottom / right to a patch multiple.

        For /14 patches a 256 x 256 crop becomes 266 x 266 (a 19 x 19 grid).
        """
        height, width = x.shape[-2:]
        grid_h, grid_w = self.patch_grid(height, width)
        pad_h = grid_h * self.patch_size - height
        pad_w = grid_w * self.patch_size - width
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=value)
        return x

    def split_prefix(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, P + N, C) -> prefix (B, P, C), patch tokens (B, N, C)."""
        return (tokens[:, :self.num_prefix_tokens],
                tokens[:, self.num_prefix_tokens:])

    @staticmethod
    def patches_to_map(patches: Tensor, grid: Sequence[int]) -> Tensor:
        """(B, h * w, C) patch tokens -> (B, C, h, w) feature map."""
        batch, _, channels = patches.shape
        return patches.transpose(1, 2).reshape(batch, channels, grid[0],
                                               grid[1])

    # ---------------------------------------------------------------- tokens
    def embed_patches(self, x: Tensor,
                      patch_embed: nn.Module | None = None) -> Tensor:
        """Tokenise (B, 3, H, W) into a patch grid (B, h, w, C).

        Args:
            x: Images with H and W multiples of ``patch_size``.
            patch_embed: A module of the same kind as :attr:`patch_embed`
                (e.g. a trainable deep copy); default the frozen one.
        """
        patch_embed = self.patch_embed if patch_embed is None else patch_embed
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(
                f'Input size {tuple(x.shape[-2:])} is not a multiple of the '
                f'patch size {self.patch_size}; pad it first '
                '(pad_to_patch_multiple).')
        return self._tower_ops.patches_as_grid(
            patch_embed(x), self.patch_grid(*x.shape[-2:]))

    def make_patch_embed_copy(self) -> nn.Module:
        """A trainable deep copy of the frozen patch embedding."""
        clone = copy.deepcopy(self.patch_embed)
        clone.requires_grad_(True)
        return clone

    def tokens_from_patches(self, grid_tokens: Tensor) -> Tensor:
        """Add prefix tokens and (interpolated) position embeddings.

        Args:
            grid_tokens: Patch grid (B, h, w, C) from :meth:`embed_patches`.

        Returns:
            Tensor: Token sequence (B, P + h * w, C) ready for the blocks.
        """
        return self._tower_ops.tokens_from_patches(
            self.tower, grid_tokens, self._pretrained_grid)

    def forward_blocks(self, tokens: Tensor, start: int = 0,
                       end: int | None = None) -> Tensor:
        """Run blocks ``start`` .. ``end - 1`` on (B, N, C) tokens."""
        end = self.num_blocks if end is None else end
        if not 0 <= start <= end <= self.num_blocks:
            raise ValueError(f'Block range [{start}, {end}) is outside '
                             f'0..{self.num_blocks}.')
        if not self._batch_first:
            tokens = tokens.transpose(0, 1)
        for block in self.blocks[start:end]:
            tokens = block(tokens)
        if not self._batch_first:
            tokens = tokens.transpose(0, 1)
        return tokens

    def final_norm(self, tokens: Tensor) -> Tensor:
        """The tower's last LayerNorm on (B, N, C) tokens."""
        return self._tower_ops.final_norm(self.tower, tokens)

    @property
    def num_blocks(self) -> int:
        """Number of transformer blocks."""
        return len(self.blocks)

    @property
    def patch_embed(self) -> nn.Module:
        """The frozen patch embedding (timm PatchEmbed / CLIP conv1)."""
        return self._tower_ops.patch_embed(self.tower)

    @property
    def blocks(self) -> nn.ModuleList:
        """The frozen transformer blocks."""
        return self._tower_ops.blocks(self.tower)

    # -------------------------------------------------------------- pooling
    def encode_image(self, x: Tensor) -> Tensor:
        """Pooled image embedding (B, output_dim) of (B, 3, H, W) images.

        Inputs are expected already normalised with :attr:`mean` /
        :attr:`std`. Any size works: it is padded to the patch multiple and
        the position embeddings are interpolated.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError('encode_image expects (B, 3, H, W), got '
                             f'{tuple(x.shape)}.')
        x = self.pad_to_patch_multiple(x)
        tokens = self.tokens_from_patches(self.embed_patches(x))
        tokens = self.forward_blocks(tokens)
        return self._tower_ops.pool(self.tower, tokens)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`encode_image`."""
        return self.encode_image(x)

    def extra_repr(self) -> str:
        """Source, name and size in the module's repr."""
        return (f'source={self.source!r}, name={self.name!r}, '
                f'embed_dim={self.embed_dim}, patch_size={self.patch_size}, '
                f'num_blocks={self.num_blocks}, frozen=True')
