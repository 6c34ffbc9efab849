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
    weights_sha256() -> str: content hash of the tower's tensors.
    frozen_weights_record() -> FrozenWeightsSource | None: the named source
        (file or tag, with its hash) the tower's weights equal now.
    pad_to_patch_multiple(x (B, C, H, W)) -> (B, C, H', W'): zero padding at
        the bottom / right up to the next multiple of ``patch_size``.

The tower never trains: its parameters have ``requires_grad=False`` and
:meth:`train` keeps it in eval mode (dropout, patch dropout and stochastic
depth stay off) whatever the parent module asks.

Checkpoints may leave a tower with a named source out
(:mod:`.slim_checkpoints`); a load-state-dict pre-hook of this module puts
it back from that source, its hash verified, under every loader
(``load_state_dict``, mmengine's ``load_checkpoint``, ``init_model``).
"""
import copy
import math
import os.path as osp
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from . import open_clip_tower, timm_tower
from .frozen_weights_source import (
    SOURCE_METADATA_KEY,
    FrozenWeightsSource,
    FrozenWeightsSourceError,
    named_source,
    tensors_sha256,
)
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
        self._digest_cache: tuple[tuple, str] | None = None
        self.weights_source: FrozenWeightsSource | None = None
        self._record_source(pretrained)
        self.register_load_state_dict_pre_hook(_reattach_left_out_tower)

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
        self._adopt(FrozenFoundationModel(pretrained=pretrained,
                                          **self._build_args))

    def _adopt(self, loaded: 'FrozenFoundationModel') -> None:
        """Take the weights, normalisation and source of ``loaded``."""
        self.tower.load_state_dict(loaded.tower.state_dict())
        self.mean, self.std = loaded.mean, loaded.std
        self.tower.requires_grad_(False)
        self.tower.eval()
        self.weights_source = loaded.weights_source
        self._digest_cache = None

    # ------------------------------------------------------- weight source
    def _record_source(self, pretrained) -> None:
        """Note the named source the tower was just loaded from, if any."""
        named = named_source(pretrained, self.name)
        if named is None:
            self.weights_source = None
            return
        state = self.tower.state_dict()
        self.weights_source = FrozenWeightsSource(
            *named, tower=f'{self.source} {self.name}',
            sha256=self.weights_sha256(), num_tensors=len(state))

    def _fingerprint(self) -> tuple:
        """Storage and version of every tower tensor: changes on writes."""
        return tuple((t.data_ptr(), t._version)
                     for t in self.tower.state_dict(keep_vars=True).values())

    def weights_sha256(self) -> str:
        """SHA-256 of the tower's current tensors (names relative to it).

        Cached until a tensor of the tower is written to or replaced (a
        load, ``.to(device)``), so checkpoints saved every few thousand
        iterations hash the 1.2 GB of a ViT-L once.

        Returns:
            str: :func:`~.frozen_weights_source.tensors_sha256` of
            ``tower.state_dict()``.
        """
        fingerprint = self._fingerprint()
        if self._digest_cache is None or \
                self._digest_cache[0] != fingerprint:
            self._digest_cache = (fingerprint,
                                  tensors_sha256(self.tower.state_dict()))
        return self._digest_cache[1]

    def frozen_weights_record(self) -> FrozenWeightsSource | None:
        """The named source the tower's weights equal now, or None.

        None for random weights (``pretrained=None``) and for weights that
        no longer equal their source (e.g. a checkpoint with another tower
        was loaded): such a tower must stay in checkpoints.

        Returns:
            FrozenWeightsSource | None: The source, its hash verified
            against the current tensors.
        """
        source = self.weights_source
        if source is None or self.weights_sha256() != source.sha256:
            return None
        return source

    def reattach_source(self, source: FrozenWeightsSource) -> None:
        """Load the tower from ``source`` and check it against its hash.

        Args:
            source: The record a slim checkpoint carries.

        Raises:
            FrozenWeightsSourceError: If the source file is missing, cannot
                be read or loaded, or holds weights with another hash,
                naming the file (or tag) and the expected hash.
        """
        if self.weights_sha256() == source.sha256:
            if self.weights_source is None:
                self.weights_source = source
            return
        expected = (f'{source.kind} {source.path or source.pretrained!r} '
                    f'(sha256 {source.sha256})')
        existing = [c for c in source.candidates()
                    if source.kind != 'file' or osp.isfile(c)]
        if not existing:
            raise FrozenWeightsSourceError(
                f'The checkpoint leaves out the frozen {source.tower} tower '
                f'and re-attaches it from {expected}, which does not '
                'exist. Put that file there, or use a checkpoint saved '
                'with FrozenWeightsCheckpointHook(save_frozen=True).')
        try:
            loaded = FrozenFoundationModel(pretrained=existing[0],
                                           **self._build_args)
        except (PretrainedWeightsUnavailableError, ValueError,
                OSError) as error:
            raise FrozenWeightsSourceError(
                f'The checkpoint leaves out the frozen {source.tower} tower '
                f'and re-attaches it from {expected}, which could not be '
                f'loaded: {error}') from error
        found = loaded.weights_source.sha256
        if found != source.sha256:
            raise FrozenWeightsSourceError(
                f'The checkpoint leaves out the frozen {source.tower} tower '
                f'and re-attaches it from {expected}, but '
                f'{existing[0]!r} holds other weights (sha256 {found}). '
                'Put the original file there, or use a checkpoint saved '
                'with FrozenWeightsCheckpointHook(save_frozen=True).')
        self._adopt(loaded)
        self.weights_source = source

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


def _reattach_left_out_tower(module: FrozenFoundationModel,
                             state_dict: dict, prefix: str,
                             local_metadata: dict, *args) -> None:
    """Load-state-dict pre-hook: fill in a tower a checkpoint left out.

    Runs under every loader that goes through ``_load_from_state_dict``
    (``nn.Module.load_state_dict``, mmengine's ``load_checkpoint`` and
    ``_load_checkpoint_to_model``, hence ``init_model``, ``load_from``,
    resume and tests; DDP-wrapped models too). When the state dict holds no
    key of the tower and its metadata entry names the tower's source
    (written by
    :func:`~m3plugins.models.foundation.slim_checkpoints.leave_out_frozen_weights`),
    the source is loaded (unless the tower already holds the same
    weights), its hash checked, and its tensors are put into the state
    dict, so the load finds no missing key.

    Args:
        module: The frozen foundation model being loaded.
        state_dict: The (local) state dict; changed in place.
        prefix: The module's key prefix, e.g. ``'backbone.foundation.'``.
        local_metadata: The module's state-dict metadata entry.
        *args: ``strict``, ``missing_keys``, ``unexpected_keys`` and
            ``error_msgs`` (unused).
    """
    record = local_metadata.get(SOURCE_METADATA_KEY)
    tower_prefix = prefix + 'tower.'
    if record is None or any(k.startswith(tower_prefix) for k in state_dict):
        return
    module.reattach_source(FrozenWeightsSource.from_dict(record))
    for key, value in module.tower.state_dict().items():
        state_dict[tower_prefix + key] = value
