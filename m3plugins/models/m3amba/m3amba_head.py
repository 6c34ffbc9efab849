"""M3amba's three per-pixel heads and its training loss (arXiv 2503.06446)."""
from collections.abc import Sequence

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor, nn


class PixelClassifier(nn.Module):
    """LayerNorm over channels, then a 1x1 conv to class logits.

    Args:
        in_channels: Feature width C.
        num_classes: Number of output channels K.
        eps: LayerNorm epsilon. Defaults to 1e-5 (``nn.LayerNorm``'s).

    Shapes:
        (B, C, H, W) -> (B, K, H, W).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels, eps=eps)
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) features -> (B, num_classes, H, W) logits."""
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.conv(x)


@MODELS.register_module()
class M3ambaHead(BaseDecodeHead):
    """Three per-pixel heads of M3amba: one per modality and one fused.

    M3amba (Cao et al., "M3amba: CLIP-driven Mamba Model for Multi-modal
    Remote Sensing Classification", arXiv 2503.06446) classifies every pixel
    of the modality streams and of the fused stream with LayerNorm + 1x1 conv
    (official code ``classifier_hsi``, ``classifier_lidar``,
    ``classifier_add``); predictions come from the fused stream.

    The input is the neck's tuple ``(modality_1, ..., modality_N, fused)`` of
    (B, C, H, W) maps (see :class:`M3ambaFusionNeck`). ``forward`` (used by
    ``predict``, whole and slide inference) returns the fused logits only.
    ``loss`` returns:

    * ``loss_ce``: ``loss_decode`` on the fused logits (its ``loss_weight`` is
      the paper's lambda1), with ``acc_seg``;
    * ``loss_ce_<modality>``: the same loss on each modality head, scaled by
      ``modality_loss_weight`` (only when it is > 0; the paper's loss figure
      shows the fused term only, so the default is 0; the modality heads then
      cannot reach the loss and are frozen, ``requires_grad=False``, so that
      DDP runs with ``find_unused_parameters=False``; they stay in the
      state_dict with the official ``classifier_<modality>`` role);
    * ``loss_cos_<modality>``: ``loss_consistency`` between each modality's
      feature map and the fused one (its ``loss_weight`` is lambda2).

    Pixels equal to ``ignore_index`` (255: unlabeled) do not count in the
    cross-entropy; the consistency term uses every pixel (it needs no label).

    Args:
        in_channels: Width C of every stream. Defaults to 384 (the paper).
        num_classes: Number of classes K. Defaults to 15 (Houston2013).
        modality_names: Names of the N modality streams, in the neck's order;
            used in the loss keys. The M3amba segmentor fills it from its
            ``modality_channels``. Defaults to ``('modality0', 'modality1')``.
        modality_loss_weight: Weight of the cross-entropy on the modality
            heads, relative to the fused one. Defaults to 0.
        loss_consistency: Config of the feature consistency loss, or None to
            leave it out. Defaults to ``CosineConsistencyLoss`` with weight 1.
        norm_eps: LayerNorm epsilon of the heads. Defaults to 1e-5.
        dropout_ratio: Dropout before the fused 1x1 conv (not in the paper).
            Defaults to 0.
        **kwargs: ``BaseDecodeHead`` arguments (``loss_decode``,
            ``ignore_index``, ``align_corners``, ``init_cfg``, ...).
            ``loss_decode`` defaults to MMSeg's ``CrossEntropyLoss`` with
            ``avg_non_ignore=True``: the mean over labeled pixels, as the
            official per-pixel cross-entropy on labeled pixels only.

    Shapes:
        inputs: N + 1 maps (B, C, H, W). forward -> (B, K, H, W).
    """

    def __init__(self,
                 in_channels: int = 384,
                 num_classes: int = 15,
                 modality_names: Sequence[str] = ('modality0', 'modality1'),
                 modality_loss_weight: float = 0.0,
                 loss_consistency: ConfigType | None = dict(
                     type='CosineConsistencyLoss', loss_weight=1.0),
                 norm_eps: float = 1e-5,
                 dropout_ratio: float = 0.0,
                 **kwargs) -> None:
        if not isinstance(in_channels, int):
            raise TypeError(
                'M3ambaHead takes one int in_channels (all streams share a '
                f'width), got {in_channels!r}.')
        for key in ('channels', 'in_index', 'input_transform'):
            if key in kwargs:
                raise TypeError(
                    f'M3ambaHead sets {key!r} itself; do not pass it.')
        kwargs.setdefault(
            'loss_decode',
            dict(type='CrossEntropyLoss', loss_weight=1.0,
                 avg_non_ignore=True))
        super().__init__(
            in_channels=in_channels,
            channels=in_channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            in_index=-1,
            **kwargs)
        modality_names = tuple(modality_names)
        if len(modality_names) < 1 or \
                len(set(modality_names)) != len(modality_names):
            raise ValueError('modality_names must name at least one modality,'
                             f' each once; got {modality_names!r}.')
        if modality_loss_weight < 0:
            raise ValueError('modality_loss_weight must be >= 0, got '
                             f'{modality_loss_weight}.')
        self.modality_names = modality_names
        self.modality_loss_weight = float(modality_loss_weight)
        # The fused classifier reuses BaseDecodeHead's conv_seg so that
        # cls_seg and checkpoints keep MMSeg's usual names.
        self.fused_norm = nn.LayerNorm(in_channels, eps=norm_eps)
        self.modality_classifiers = nn.ModuleDict({
            name: PixelClassifier(in_channels, self.out_channels, norm_eps)
            for name in modality_names
        })
        if self.modality_loss_weight == 0:
            self.modality_classifiers.requires_grad_(False)
        self.loss_consistency = (
            MODELS.build(loss_consistency)
            if loss_consistency is not None else None)

    def _split_streams(self, inputs: Sequence[Tensor]
                       ) -> tuple[list[Tensor], Tensor]:
        if len(inputs) != len(self.modality_names) + 1:
            raise ValueError(
                f'M3ambaHead expects {len(self.modality_names) + 1} feature '
                f'maps ({", ".join(self.modality_names)}, fused), got '
                f'{len(inputs)}.')
        return list(inputs[:-1]), inputs[-1]

    def classify_fused(self, fused: Tensor) -> Tensor:
        """Fused logits: LayerNorm, (dropout), ``conv_seg``.

        Args:
            fused: (B, C, H, W).

        Returns:
            Tensor: (B, K, H, W).
        """
        fused = self.fused_norm(fused.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.cls_seg(fused)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Fused-stream logits (B, K, H, W), used for predictions."""
        _, fused = self._split_streams(inputs)
        return self.classify_fused(fused)

    def forward_all(self, inputs: Sequence[Tensor]) -> dict[str, Tensor]:
        """Logits of all three (N + 1) heads.

        Returns:
            dict[str, Tensor]: ``'fused'`` and each modality name ->
            (B, K, H, W).
        """
        modality_feats, fused = self._split_streams(inputs)
        logits = {
            name: self.modality_classifiers[name](feat)
            for name, feat in zip(self.modality_names, modality_feats)
        }
        logits['fused'] = self.classify_fused(fused)
        return logits

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Fused cross-entropy, optional modality cross-entropy, consistency.

        Args:
            inputs: The neck's N + 1 maps (B, C, H, W).
            batch_data_samples: Samples carrying ``gt_sem_seg`` (B, 1, H, W).
            train_cfg: Unused (MMSeg's signature).

        Returns:
            dict[str, Tensor]: Loss terms and ``acc_seg``.
        """
        modality_feats, fused = self._split_streams(inputs)
        losses = self.loss_by_feat(self.classify_fused(fused),
                                   batch_data_samples)
        if self.modality_loss_weight > 0:
            for name, feat in zip(self.modality_names, modality_feats):
                logits = self.modality_classifiers[name](feat)
                for key, value in self.loss_by_feat(
                        logits, batch_data_samples).items():
                    if key.startswith('loss'):
                        losses[f'{key}_{name}'] = \
                            self.modality_loss_weight * value
                    else:
                        losses[f'{key}_{name}'] = value
        if self.loss_consistency is not None:
            for name, feat in zip(self.modality_names, modality_feats):
                losses[f'{self.loss_consistency.loss_name}_{name}'] = \
                    self.loss_consistency(feat, fused)
        return losses
