"""MoBaNet's auxiliary head: 3x3 conv-BN-ReLU6, dropout, bias-free 1x1."""

from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn

#: Dropout layers the head can use before its classifier.
DROPOUT_TYPES = {'Dropout': nn.Dropout, 'Dropout2d': nn.Dropout2d}


@MODELS.register_module()
class MoBaNetAuxHead(BaseDecodeHead):
    """Auxiliary head of MoBaNet on one stream's stage-1 map.

    Li et al., MoBaNet (arXiv 2603.17705); official code sauryeo/MoBaNet,
    ``Net.py``, ``AuxHead`` (read at commit 4efd0aa): ``ConvBNReLU(C, C)``,
    i.e. a 3x3 conv without bias, BatchNorm and **ReLU6**, then
    ``nn.Dropout(0.1)`` (element-wise, not channel-wise) and a 1x1 conv to
    the classes **without bias**; the logits are resized bilinearly to the
    input (here by :class:`MoBaNetSegmentor`). These are the defaults.
    MMSeg's ``FCNHead`` (ReLU, ``Dropout2d``, biased classifier) remains a
    documented alternative in the configs.

    Weight initialisation is MMSeg's (``ConvModule``'s kaiming init for the
    3x3 conv; ``BaseDecodeHead``'s normal(std 0.01) for the classifier);
    the official head keeps PyTorch's defaults.

    Args:
        kernel_size: Kernel of the conv-BN-activation block. Defaults to 3.
        dropout_type: ``'Dropout'`` (official) or ``'Dropout2d'`` (MMSeg's
            choice) before the classifier; its rate is ``dropout_ratio``
            (0.1 in the official head).
        classifier_bias: Give the 1x1 classifier a bias. Defaults to False
            (official).
        act_cfg: Activation after the BatchNorm. Defaults to ReLU6
            (official).
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``in_index``, ``norm_cfg``,
            ``dropout_ratio``, ``loss_decode``, ...).

    Shapes:
        forward: the selected map (B, in_channels, H, W) ->
        logits (B, num_classes, H, W).
    """

    def __init__(self,
                 kernel_size: int = 3,
                 dropout_type: str = 'Dropout',
                 classifier_bias: bool = False,
                 act_cfg: dict = dict(type='ReLU6'),
                 **kwargs) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be a positive odd int, got {kernel_size}.')
        if dropout_type not in DROPOUT_TYPES:
            raise ValueError(f'dropout_type must be one of '
                             f'{sorted(DROPOUT_TYPES)}, got {dropout_type!r}.')
        super().__init__(act_cfg=act_cfg, **kwargs)
        if not isinstance(self.in_channels, int):
            raise ValueError('MoBaNetAuxHead reads one map: in_channels must '
                             f'be an int, got {self.in_channels!r}.')
        self.conv = ConvModule(
            self.in_channels,
            self.channels,
            kernel_size,
            padding=kernel_size // 2,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.dropout = (DROPOUT_TYPES[dropout_type](self.dropout_ratio)
                        if self.dropout_ratio > 0 else None)
        self.conv_seg = nn.Conv2d(self.channels, self.out_channels, 1,
                                  bias=classifier_bias)

    def forward(self, inputs: list[Tensor] | Tensor) -> Tensor:
        """Logits of the ``in_index`` map, at its resolution."""
        return self.cls_seg(self.conv(self._transform_inputs(inputs)))
