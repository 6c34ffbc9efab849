"""A frozen ViT foundation model (open_clip or timm) behind one interface.

Both M3amba (Cao et al., arXiv 2503.06446) and MoBaNet (Li et al., arXiv
2603.17705) freeze a pretrained vision transformer and train small modules
around it. :class:`FrozenFoundationModel` builds that tower from open_clip
(any CLIP ViT, image tower only) or timm (for example DINOv2
``vit_large_patch14_dinov2.lvd142m``), loads its weights from a tag, a local
file or nothing, freezes it and keeps it in eval mode.

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
import os
import os.path as osp
import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SOURCES = ('open_clip', 'timm')
WEIGHT_FILE_SUFFIXES = ('.safetensors', '.pt', '.pth', '.bin', '.ckpt')


class PretrainedWeightsUnavailableError(RuntimeError):
    """Weights asked for by tag could not be fetched (e.g. offline)."""


def _looks_like_path(value: str) -> bool:
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
            self._build_open_clip(name, pretrained, model_kwargs, cache_dir)
        else:
            self._build_timm(name, pretrained, model_kwargs, strict)
        self.tower.requires_grad_(False)
        self.tower.eval()

    # ------------------------------------------------------------------ build
    def _build_open_clip(self, name, pretrained, model_kwargs, cache_dir):
        import open_clip
        if pretrained is True:
            raise ValueError(
                'For open_clip, pretrained must be a tag (one of '
                f'{open_clip.list_pretrained_tags_by_model(name)}) or a file '
                'path, not True.')
        pretrained = pretrained or None
        tag_cfg = {}
        if pretrained is not None and not osp.isfile(pretrained):
            if _looks_like_path(pretrained):
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
                name, pretrained=pretrained, cache_dir=cache_dir,
                **model_kwargs)
        except Exception as error:
            if tag_cfg:
                raise PretrainedWeightsUnavailableError(
                    self._open_clip_download_hint(name, pretrained, tag_cfg,
                                                  error)) from error
            raise
        self.tower = clip.visual
        del clip  # the text tower is not needed
        visual = self.tower
        self._batch_first = getattr(visual.transformer, 'batch_first', True)
        self.embed_dim = visual.conv1.out_channels
        self.patch_size = int(visual.patch_size[0])
        self.num_prefix_tokens = 1
        self.output_dim = int(visual.output_dim)
        self.image_size = tuple(int(s) for s in visual.image_size)
        self._pretrained_grid = tuple(int(g) for g in visual.grid_size)
        self.mean = tuple(getattr(visual, 'image_mean', None)
                          or open_clip.OPENAI_DATASET_MEAN)
        self.std = tuple(getattr(visual, 'image_std', None)
                         or open_clip.OPENAI_DATASET_STD)

    @staticmethod
    def _open_clip_download_hint(name, tag, tag_cfg, error) -> str:
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

    def _build_timm(self, name, pretrained, model_kwargs, strict):
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
            if osp.isfile(pretrained) or _looks_like_path(pretrained):
                load_path = pretrained
                if not osp.isfile(load_path):
                    raise FileNotFoundError(
                        f'timm weight file {load_path!r} does not exist.')
                pretrained = None
        if pretrained:
            full = f'{base}.{pretrained}'
            try:
                self.tower = timm.create_model(
                    full, pretrained=True, dynamic_img_size=True,
                    **model_kwargs)
            except Exception as error:
                raise PretrainedWeightsUnavailableError(
                    self._timm_download_hint(full, error)) from error
        else:
            self.tower = timm.create_model(
                name, pretrained=False, dynamic_img_size=True,
                **model_kwargs)
        tower = self.tower
        if not hasattr(tower, 'blocks') or not hasattr(tower, 'patch_embed'):
            raise ValueError(f'timm model {name!r} is not a plain ViT '
                             '(it needs patch_embed and blocks).')
        if load_path is not None:
            self._load_timm_file(load_path, strict)
        self._batch_first = True
        self.embed_dim = int(tower.embed_dim)
        self.patch_size = int(tower.patch_embed.patch_size[0])
        self.num_prefix_tokens = int(tower.num_prefix_tokens)
        self.output_dim = int(tower.num_features
                              if tower.num_classes == 0 else tower.num_classes)
        self.image_size = tuple(int(s) for s in tower.patch_embed.img_size)
        self._pretrained_grid = tuple(
            int(g) for g in tower.patch_embed.grid_size)
        cfg = tower.pretrained_cfg or {}
        self.mean = tuple(cfg.get('mean', (0.485, 0.456, 0.406)))
        self.std = tuple(cfg.get('std', (0.229, 0.224, 0.225)))

    @staticmethod
    def _timm_download_hint(full_name, error) -> str:
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

    def _load_timm_file(self, path: str, strict: bool):
        state = load_state_dict_file(path)
        module = sys.modules.get(type(self.tower).__module__)
        filter_fn = getattr(module, 'checkpoint_filter_fn', None)
        if filter_fn is not None:  # official layouts, pos-embed resizing
            state = filter_fn(state, self.tower)
        result = self.tower.load_state_dict(state, strict=False)
        problems = []
        for label, keys in (('missing', result.missing_keys),
                            ('unexpected', result.unexpected_keys)):
            if keys:
                more = ' ...' if len(keys) > 8 else ''
                problems.append(f'{label} keys {keys[:8]}{more}')
        if problems and strict:
            raise ValueError(
                f'Weight file {path!r} does not match timm model '
                f'{self.name!r}: {"; ".join(problems)}. Check the model name '
                '(size, patch, registers) or pass strict=False.')

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
        out = patch_embed(x)
        if self.source == 'open_clip':  # Conv2d: (B, C, h, w)
            return out.permute(0, 2, 3, 1)
        if out.dim() == 3:  # a timm patch embed that flattens
            grid = self.patch_grid(*x.shape[-2:])
            return out.reshape(out.shape[0], grid[0], grid[1], out.shape[-1])
        return out

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
        if self.source == 'timm':
            tower = self.tower
            tokens = tower._pos_embed(grid_tokens)
            tokens = tower.patch_drop(tokens)
            return tower.norm_pre(tokens)
        from timm.layers import resample_abs_pos_embed
        visual = self.tower
        batch, grid_h, grid_w, channels = grid_tokens.shape
        pos = visual.positional_embedding
        if (grid_h, grid_w) != self._pretrained_grid:
            pos = resample_abs_pos_embed(
                pos.unsqueeze(0), new_size=(grid_h, grid_w),
                old_size=self._pretrained_grid, num_prefix_tokens=1)[0]
        cls = visual.class_embedding.reshape(1, 1, -1).expand(batch, -1, -1)
        tokens = torch.cat(
            [cls.to(grid_tokens.dtype),
             grid_tokens.reshape(batch, grid_h * grid_w, channels)], dim=1)
        tokens = tokens + pos.to(tokens.dtype)
        tokens = visual.patch_dropout(tokens)
        return visual.ln_pre(tokens)

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
        if self.source == 'timm':
            return self.tower.norm(tokens)
        return self.tower.ln_post(tokens)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def patch_embed(self) -> nn.Module:
        """The frozen patch embedding (timm PatchEmbed / CLIP conv1)."""
        if self.source == 'timm':
            return self.tower.patch_embed
        return self.tower.conv1

    @property
    def blocks(self) -> nn.ModuleList:
        """The frozen transformer blocks."""
        if self.source == 'timm':
            return self.tower.blocks
        return self.tower.transformer.resblocks

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
        if self.source == 'timm':
            tokens = self.tower.norm(tokens)
            return self.tower.forward_head(tokens)
        pooled, _ = self.tower._pool(tokens)
        if self.tower.proj is not None:
            pooled = pooled @ self.tower.proj
        return pooled

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`encode_image`."""
        return self.encode_image(x)

    def extra_repr(self) -> str:
        return (f'source={self.source!r}, name={self.name!r}, '
                f'embed_dim={self.embed_dim}, patch_size={self.patch_size}, '
                f'num_blocks={self.num_blocks}, frozen=True')
