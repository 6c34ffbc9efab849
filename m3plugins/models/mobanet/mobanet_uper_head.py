"""MoBaNet's UPerNet decode head in the official form."""
from collections.abc import Sequence

import torch
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class MoBaNetUPerHead(BaseDecodeHead):
    """UPerNet decode head of MoBaNet, in the form of the official code.

    Li et al., MoBaNet (arXiv 2603.17705); official code sauryeo/MoBaNet,
    ``Net.py`` at commit 4efd0aabe279ff158edd29ce31107c22c3ed63fa (the same
    classes in ``MMNet.py`` at 1ae0e7ef24b2f7df794ef579ad4a2b4ee8bdc739,
    which ``train.py`` imports): ``PPM`` (lines 95-119) and ``UperNetHead``
    (from line 122), built from ``ConvBNReLU`` (a conv without bias,
    BatchNorm, **ReLU6**), ``ConvBN`` (the same without activation) and
    ``Conv`` (a bias-free conv). For maps ``c_1 .. c_N`` (the official
    model has N = 4, all 256 channels at 1/14):

    * pyramid pooling on ``c_N``: per scale s, adaptive average pooling to
      s x s, 1x1 conv-BN-ReLU6 to ``channels``, bilinear resize back; the
      concatenation ``[c_N, pooled_1, ...]`` goes through a 3x3
      conv-BN-ReLU6 to ``channels``, giving ``p_N``;
    * laterals ``l_i`` = 1x1 conv + BN **without activation** on
      ``c_1 .. c_{N-1}``; top-down ``p_i = l_i + resize(p_{i+1})``;
    * ``fpn_i`` = 3x3 conv-BN-ReLU6 on ``p_1 .. p_{N-1}``; ``p_N`` joins
      unchanged; all resized to ``p_1``'s size and concatenated;
    * a 3x3 conv-BN-ReLU6 (``fpn_bottleneck``), ``nn.Dropout2d`` and a 1x1
      classifier **without bias**.

    MMSeg's ``UPerHead`` computes the same graph with three differences:
    ReLU after its lateral convs, ReLU instead of ReLU6, and a biased
    classifier (for identical features its logits differ from the official
    head's by 0.52 relative). It stays available with
    ``decode_head=dict(type='UPerHead', ...)``.

    The submodules are named and indexed as the official head's, so its
    state dict maps one to one onto ours: official ``decoder.<key>`` (the
    ``Net``/``MMNet`` attribute) is ``decode_head.<key>`` of
    :class:`MoBaNetSegmentor`, for every ``<key>``::

        ppm.stages.{i}.1.0.weight            conv 1x1   (C, C_N, 1, 1)
        ppm.stages.{i}.1.1.{weight, bias, running_mean, running_var,
                            num_batches_tracked}          BN (C)
        ppm.bottleneck.0.weight              conv 3x3   (C, C_N + S*C, 3, 3)
        ppm.bottleneck.1.*                   BN (C)
        lateral_convs.{j}.0.weight           conv 1x1   (C, C_j, 1, 1)
        lateral_convs.{j}.1.*                BN (C)
        fpn_convs.{j}.0.weight               conv 3x3   (C, C, 3, 3)
        fpn_convs.{j}.1.*                    BN (C)
        fpn_bottleneck.0.weight              conv 3x3   (C, N*C, 3, 3)
        fpn_bottleneck.1.*                   BN (C)
        classifier.1.0.weight                conv 1x1   (K, C, 1, 1)

    with i over the S pool scales, j over the N - 1 lateral levels, C =
    ``channels`` and K = ``num_classes``. Activations and the dropout
    (index 0 of ``classifier``) hold no tensors.

    Weights start from PyTorch's defaults, as in the official code (no
    ``init_cfg``; MMSeg's heads draw their classifier from N(0, 0.01)).
    Every resize is bilinear with ``align_corners`` (False, as the official
    code). The logits stay at the resolution of ``c_1``; the segmentor
    resizes them to the input, as the official head does at its end.

    Args:
        in_channels: Channels of the N input maps. Defaults to
            ``(256, 256, 256, 256)`` (the official model).
        channels: Width C of the head. Defaults to 64 (official
            ``decode_channels``).
        num_classes: Number of classes K. Defaults to 6 (ISPRS).
        in_index: Which of the neck's maps to read, in order. Defaults to
            ``(0, 1, 2, 3)`` (the fused maps of
            :class:`DifferenceGuidedGatedFusion`).
        pool_scales: Output sizes of the pyramid pooling. Defaults to
            ``(1, 2, 3, 6)`` (official ``pool_sizes``).
        dropout_ratio: Probability of the ``nn.Dropout2d`` before the
            classifier. Defaults to 0.1 (official ``dropout``).
        norm_cfg: Normalisation after every conv but the classifier.
            Defaults to BatchNorm (official ``nn.BatchNorm2d``); required.
        act_cfg: Activation of the conv-BN-activation blocks. Defaults to
            ReLU6 (official).
        init_cfg: mmengine initialisation config. Defaults to None
            (PyTorch's defaults, as the official head).
        **kwargs: Further :class:`BaseDecodeHead` arguments
            (``loss_decode``, ``ignore_index``, ``align_corners``,
            ``conv_cfg``, ...).

    Shapes:
        forward: N maps (B, C_j, H_j, W_j) -> logits (B, K, H_1, W_1).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 256, 256, 256),
                 channels: int = 64,
                 *,
                 num_classes: int = 6,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 dropout_ratio: float = 0.1,
                 norm_cfg: dict | None = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU6'),
                 init_cfg: dict | None = None,
                 **kwargs) -> None:
        if norm_cfg is None:
            raise ValueError(
                'MoBaNetUPerHead needs norm_cfg: every conv of the official '
                'head but the classifier is followed by a BatchNorm.')
        if len(in_channels) < 2 or len(in_channels) != len(in_index):
            raise ValueError(
                'MoBaNetUPerHead reads two or more maps, one per in_index: '
                f'got in_channels={tuple(in_channels)!r}, '
                f'in_index={tuple(in_index)!r}.')
        if not pool_scales:
            raise ValueError('pool_scales must name at least one scale.')
        super().__init__(
            list(in_channels), channels, num_classes=num_classes,
            in_index=list(in_index), input_transform='multiple_select',
            dropout_ratio=dropout_ratio, norm_cfg=norm_cfg, act_cfg=act_cfg,
            init_cfg=init_cfg, **kwargs)
        # BaseDecodeHead builds MMSeg's biased classifier; the official one
        # replaces it (module `classifier` below).
        del self.conv_seg
        del self.dropout
        top = self.in_channels[-1]
        self.ppm = nn.ModuleDict(dict(
            stages=nn.ModuleList(
                nn.Sequential(nn.AdaptiveAvgPool2d(scale),
                              self._conv_norm(top, 1, activate=True))
                for scale in pool_scales),
            bottleneck=self._conv_norm(
                top + len(pool_scales) * channels, 3, activate=True)))
        self.lateral_convs = nn.ModuleList(
            self._conv_norm(width, 1, activate=False)
            for width in self.in_channels[:-1])
        self.fpn_convs = nn.ModuleList(
            self._conv_norm(channels, 3, activate=True)
            for _ in self.in_channels[:-1])
        self.fpn_bottleneck = self._conv_norm(
            len(self.in_channels) * channels, 3, activate=True)
        self.classifier = nn.Sequential(
            nn.Dropout2d(self.dropout_ratio),
            nn.Sequential(
                build_conv_layer(self.conv_cfg, channels, self.out_channels,
                                 1, bias=False)))

    def _conv_norm(self, in_channels: int, kernel_size: int,
                   activate: bool) -> nn.Sequential:
        """Bias-free conv to ``channels``, norm, then (if asked) activation.

        Indexed 0 / 1 / 2 as the official ``ConvBN`` / ``ConvBNReLU``.
        """
        layers = [
            build_conv_layer(self.conv_cfg, in_channels, self.channels,
                             kernel_size, padding=kernel_size // 2,
                             bias=False),
            build_norm_layer(self.norm_cfg, self.channels)[1],
        ]
        if activate:
            layers.append(build_activation_layer(self.act_cfg))
        return nn.Sequential(*layers)

    def _resize(self, x: Tensor, size) -> Tensor:
        return resize(x, size=size, mode='bilinear',
                      align_corners=self.align_corners)

    def pyramid_pooling(self, x: Tensor) -> Tensor:
        """``p_N`` from the last map: (B, C_N, H, W) -> (B, C, H, W)."""
        pooled = [x] + [self._resize(stage(x), x.shape[2:])
                        for stage in self.ppm['stages']]
        return self.ppm['bottleneck'](torch.cat(pooled, dim=1))

    def _forward_feature(self, inputs: list[Tensor]) -> Tensor:
        """Fused features before the classifier: (B, C, H_1, W_1)."""
        maps = self._transform_inputs(inputs)
        levels = [conv(x) for conv, x in zip(self.lateral_convs, maps)]
        levels.append(self.pyramid_pooling(maps[-1]))
        for i in range(len(levels) - 1, 0, -1):
            levels[i - 1] = levels[i - 1] + self._resize(
                levels[i], levels[i - 1].shape[2:])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, levels)]
        outs.append(levels[-1])
        size = outs[0].shape[2:]
        outs = [outs[0]] + [self._resize(x, size) for x in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, dim=1))

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Dropout2d, then the bias-free 1x1 classifier."""
        return self.classifier(feat)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        """Logits (B, K, H_1, W_1) of the ``in_index`` maps."""
        return self.cls_seg(self._forward_feature(inputs))
