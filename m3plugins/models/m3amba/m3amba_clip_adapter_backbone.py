"""M3amba backbone: frozen CLIP image encoder with modality adapters."""
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from m3plugins.utils.modalities import (
    ModalityError,
    ModalityLayout,
    ordered_modality_channels,
    split_modalities,
)

from ..foundation.frozen_foundation_model import (
    FrozenFoundationModel,
    PretrainedWeightsUnavailableError,
)
from .clip_modality_adapter import CLIPModalityAdapter
from .pointwise_patch_embed import PointwisePatchEmbed

RESIZE_MODES = ('bicubic', 'bilinear', 'nearest')


@MODELS.register_module()
class M3ambaCLIPAdapterBackbone(BaseModule):
    """Token maps of every modality plus the CLIP-driven fused stream.

    M3amba (Cao et al., "M3amba: CLIP-driven Mamba Model for Multi-modal
    Remote Sensing Classification", arXiv 2503.06446; official code
    kaka-Cao/M3amba ``net/net_vmamba_v4.py``). The input is one
    channel-stacked batch (see :mod:`m3plugins.utils.modalities`), split
    with ``modality_channels``. For every modality m with C_m channels:

    * main tokens: :class:`PointwisePatchEmbed` (1x1 conv C_m -> D,
      LayerNorm);
    * CLIP branch (:class:`CLIPModalityAdapter`): trainable 1x1 conv
      C_m -> 3, resize to the encoder's input size (``resize_mode``,
      bicubic as in the official code), normalisation with the encoder's
      mean / std (``normalize_for_tower``; see below), the **frozen** image
      encoder's pooled embedding (512 for ViT-B/32), trainable
      Linear(512 -> H * W) reshaped to (B, 1, H, W), 1x1 conv 1 -> C_m,
      patch embedding -> (B, D, H, W).

    The fused stream starts as the sum of the modalities' CLIP maps. The
    encoder runs once on all modalities together (batched) and keeps its
    gradient path open, so the C_m -> 3 adapters train through it while
    its own weights stay frozen (``requires_grad=False``, eval mode).

    Choices the paper leaves open:

    * ``normalize_for_tower``: the official code feeds the adapter output to
      CLIP without CLIP's mean / std; we apply ``(x - mean) / std`` by
      default so that at initialisation the encoder sees inputs on the
      scale it was trained on (the adapter can learn either way). Set False
      for the official behaviour.
    * The crop size (H, W) comes from the config (the official code
      hard-codes 32 x 32); inputs must have exactly that size, since the
      Linear layer maps to a fixed H * W grid. Use whole inference on crops
      of that size, or slide inference with ``crop_size`` equal to it.

    Args:
        modality_channels: Modality name -> channel count, in stacking
            order; at least two modalities. Defaults to
            ``dict(hsi=144, lidar=1)`` (Houston2013).
        crop_size: (H, W) of the input crops. Defaults to (32, 32).
        embed_dims: Token width D. Defaults to 384.
        foundation_model: Keyword arguments of
            :class:`FrozenFoundationModel` (``source``, ``name``,
            ``pretrained``: None, an open_clip tag or a local file,
            ``model_kwargs``...). Defaults to open_clip ViT-B-32 with random
            weights (``pretrained=None``); set ``pretrained='openai'`` (or
            a local file) for the paper's encoder.
        resize_mode: Interpolation to the encoder's input size, one of
            ``'bicubic'``, ``'bilinear'``, ``'nearest'``.
        normalize_for_tower: Apply the encoder's mean / std to the adapter
            output. Defaults to True.
        check_finite: Reject NaN / Inf inputs, naming the modality.
        norm_eps: LayerNorm epsilon of the patch embeddings.
        init_cfg: mmengine init config. It would also reach the frozen
            encoder, so keep it None unless it only loads a checkpoint.

    Shapes:
        inputs: (B, sum C_m, H, W).
        Returns a tuple of N + 1 maps (B, D, H, W): the main tokens of every
        modality, in ``modality_channels`` order, then the initial fused
        stream.
    """

    def __init__(self,
                 modality_channels: ModalityLayout | None = None,
                 crop_size: Sequence[int] = (32, 32),
                 embed_dims: int = 384,
                 foundation_model: dict | None = None,
                 resize_mode: str = 'bicubic',
                 normalize_for_tower: bool = True,
                 check_finite: bool = True,
                 norm_eps: float = 1e-5,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if modality_channels is None:
            modality_channels = dict(hsi=144, lidar=1)
        self.modality_channels = self._check_modalities(modality_channels)
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f'crop_size must be (H, W), got {crop_size!r}.')
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f'resize_mode must be one of {RESIZE_MODES}, '
                             f'got {resize_mode!r}.')
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.embed_dims = embed_dims
        self.resize_mode = resize_mode
        self.normalize_for_tower = normalize_for_tower
        self.check_finite = check_finite

        if foundation_model is None:
            foundation_model = dict(
                source='open_clip', name='ViT-B-32', pretrained=None)
        try:
            self.tower = FrozenFoundationModel(**foundation_model)
        except PretrainedWeightsUnavailableError as error:
            raise PretrainedWeightsUnavailableError(
                f'{error}\nFor M3amba, put the file under e.g. '
                'checkpoints/ and set model.backbone.foundation_model.'
                "pretrained='checkpoints/<file>' in the config (or "
                '--cfg-options model.backbone.foundation_model.pretrained='
                'checkpoints/<file>); OpenAI CLIP weights also need '
                'model.backbone.foundation_model.model_kwargs='
                'dict(force_quick_gelu=True).') from error
        tower_channels = len(self.tower.mean)
        self.register_buffer(
            'tower_mean',
            torch.tensor(self.tower.mean).reshape(1, -1, 1, 1),
            persistent=False)
        self.register_buffer(
            'tower_std',
            torch.tensor(self.tower.std).reshape(1, -1, 1, 1),
            persistent=False)

        self.patch_embeds = nn.ModuleDict({
            name: PointwisePatchEmbed(channels, embed_dims, norm_eps)
            for name, channels in self.modality_channels.items()
        })
        self.clip_adapters = nn.ModuleDict({
            name: CLIPModalityAdapter(channels, tower_channels,
                                      self.tower.output_dim, self.crop_size,
                                      embed_dims, norm_eps)
            for name, channels in self.modality_channels.items()
        })

    @staticmethod
    def _check_modalities(modality_channels) -> 'OrderedDict[str, int]':
        checked = ordered_modality_channels(modality_channels)
        if len(checked) < 2:
            raise ValueError('M3amba fuses at least two modalities, got '
                             f'{dict(checked)}.')
        return checked

    @property
    def modality_names(self) -> tuple[str, ...]:
        """Modality names in input channel order."""
        return tuple(self.modality_channels)

    def prepare_for_tower(self, x: Tensor) -> Tensor:
        """Resize an adapter output to the encoder size and normalise it.

        Args:
            x: (B, 3, H, W) adapter output.

        Returns:
            Tensor: (B, 3, *tower.image_size).
        """
        align = False if self.resize_mode != 'nearest' else None
        x = F.interpolate(x, size=self.tower.image_size,
                          mode=self.resize_mode, align_corners=align)
        if self.normalize_for_tower:
            x = (x - self.tower_mean) / self.tower_std
        return x

    def forward(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Split the modalities, embed them and build the fused stream.

        Args:
            inputs: (B, sum C_m, H, W) with (H, W) == ``crop_size``.

        Returns:
            tuple[Tensor]: N + 1 maps (B, D, H, W) (modalities, then fused).

        Raises:
            ModalityError: Wrong channel count, or NaN / Inf in a modality
                (the message names it), or a spatial size other than
                ``crop_size``.
        """
        parts = split_modalities(inputs, self.modality_channels,
                                 check_finite=self.check_finite)
        if tuple(inputs.shape[-2:]) != self.crop_size:
            raise ModalityError(
                f'M3amba maps each CLIP embedding to a fixed '
                f'{self.crop_size[0]}x{self.crop_size[1]} grid (crop_size), '
                f'but got inputs of {inputs.shape[-2]}x{inputs.shape[-1]}. '
                'Feed crops of crop_size (whole inference on crops, or slide '
                'inference with test_cfg crop_size equal to it and an image '
                'at least that large).')
        batch = inputs.shape[0]
        tower_inputs = torch.cat([
            self.prepare_for_tower(self.clip_adapters[name].to_tower(x))
            for name, x in parts.items()
        ])
        embeddings = self.tower.encode_image(tower_inputs).split(batch)
        fused = None
        for name, embedding in zip(parts, embeddings):
            clip_map = self.clip_adapters[name].from_embedding(embedding)
            fused = clip_map if fused is None else fused + clip_map
        tokens = [self.patch_embeds[name](x) for name, x in parts.items()]
        return tuple(tokens) + (fused, )
