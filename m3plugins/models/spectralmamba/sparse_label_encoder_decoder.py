"""EncoderDecoder that trains on sparse labels without computing the rest.

Hyperspectral benchmarks label a few percent of the pixels (Houston2013's
training map labels 2,832 of its 664,845 pixels), and with a 3 x 3 spatial
kernel the pixels those labels depend on are only a few percent more
(``tools/benchmark_hsi.py`` reports the fraction scanned). With a per-pixel
head, no loss term depends on the features of the other pixels, so a
backbone that can compute only the needed ones gives the same loss and
gradients at a fraction of the cost.
"""
import inspect

import torch
from mmseg.models.decode_heads import FCNHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

from m3plugins.utils.pixel_masks import dilate_pixel_mask

from ..layout import layout_for_segmentor, with_part_value


def fcn_head_margin(head: FCNHead) -> int:
    """How many feature pixels an ``FCNHead`` output reaches per side.

    The head's convolutions (``convs``, then ``conv_cat`` with
    ``concat_input``) run one after the other, so their reaches,
    ``dilation * (kernel_size // 2)`` each, add up.
    """
    margin = 0
    for part in (head.convs, getattr(head, 'conv_cat', None)):
        if part is None:
            continue
        for conv in part.modules():
            if isinstance(conv, torch.nn.Conv2d):
                margin += conv.dilation[0] * (conv.kernel_size[0] // 2)
    return margin


def _takes_argument(cfg: ConfigType, name: str) -> bool:
    """Whether the class a config builds names ``name`` in its __init__."""
    cls = cfg.get('type') if hasattr(cfg, 'get') else None
    if isinstance(cls, str):
        cls = MODELS.get(cls)
    if not inspect.isclass(cls):
        return False
    return name in inspect.signature(cls.__init__).parameters


@MODELS.register_module()
class SparseLabelEncoderDecoder(EncoderDecoder):
    """MMSeg's EncoderDecoder; in training, features only where labels are.

    In ``loss``, the labeled pixels of the batch (ground truth other than
    the decode head's ``ignore_index``), dilated by ``feature_margin``, are
    passed to the backbone as ``output_mask``; a backbone that accepts it
    (e.g. :class:`~m3plugins.models.spectralmamba.SpectralMamba`) computes the
    features those pixels need and may leave the others meaningless. The
    losses and gradients are those of :class:`EncoderDecoder` (tested), so
    checkpoints, configs and inference are interchangeable with it;
    ``predict``, ``encode_decode`` and ``tensor`` mode run the full
    backbone.

    The skipped work is exact to skip only when every loss term reads the
    features within ``feature_margin`` pixels of a labeled pixel, at input
    resolution. Hence the checks at construction: the backbone must take
    ``output_mask``, there must be no neck, and every ``FCNHead`` (decode
    or auxiliary) must reach no further than ``feature_margin`` (a 1x1
    head, SpectralMamba's, reaches 0). Other heads are trusted to reach no
    further than ``feature_margin``. When the labels do not match the input
    size, or a batch has no labeled pixel, the full backbone runs.

    When the data preprocessor declares the modality layout
    (:class:`~m3plugins.models.data_preprocessors.
    MultimodalSegDataPreProcessor`), it becomes the ``modality_channels`` of
    a backbone that takes one (SpectralMamba); an explicit backbone value
    must agree with it.

    Args:
        backbone (dict): Backbone config.
        feature_margin (int): Feature pixels a head output reads around its
            own position. Default: 0 (per-pixel heads).
        *args, **kwargs: Those of :class:`EncoderDecoder`.

    Raises:
        TypeError: If the backbone's ``forward`` has no ``output_mask``.
        ValueError: With a backbone layout other than the data
            preprocessor's, a neck, a negative margin, an ``FCNHead``
            reaching beyond ``feature_margin``, or an auxiliary head with
            another ``ignore_index``.
    """

    def __init__(self, backbone: ConfigType, *args,
                 feature_margin: int = 0, **kwargs):
        layout = layout_for_segmentor(kwargs.get('data_preprocessor'),
                                      type(self).__name__, required=False)
        if layout is not None and _takes_argument(backbone,
                                                  'modality_channels'):
            backbone = with_part_value(backbone, 'modality_channels',
                                       layout, 'backbone')
        super().__init__(backbone, *args, **kwargs)
        self.modality_channels = layout
        if feature_margin < 0:
            raise ValueError(
                f'feature_margin must be >= 0, got {feature_margin}')
        if 'output_mask' not in inspect.signature(
                self.backbone.forward).parameters:
            raise TypeError(
                f'{type(self).__name__} needs a backbone whose forward takes '
                f'output_mask; {type(self.backbone).__name__} does not. Use '
                'EncoderDecoder instead.')
        if self.with_neck:
            raise ValueError(
                f'{type(self).__name__} does not support a neck (its '
                'spatial reach is unknown); use EncoderDecoder.')
        heads = [self.decode_head]
        if self.with_auxiliary_head:
            aux = self.auxiliary_head
            heads += list(aux) if isinstance(aux, torch.nn.ModuleList) \
                else [aux]
        for head in heads:
            if getattr(head, 'ignore_index', None) != \
                    self.decode_head.ignore_index:
                raise ValueError(
                    f'{type(self).__name__} takes the labeled pixels from '
                    'the decode head\'s ignore_index '
                    f'({self.decode_head.ignore_index}); the auxiliary '
                    f'{type(head).__name__} ignores '
                    f'{getattr(head, "ignore_index", None)}.')
            if isinstance(head, FCNHead) and \
                    fcn_head_margin(head) > feature_margin:
                raise ValueError(
                    f'{type(head).__name__} reads {fcn_head_margin(head)} '
                    f'feature pixels around each output but '
                    f'feature_margin={feature_margin}; set feature_margin '
                    'to at least that.')
        self.feature_margin = feature_margin

    def labeled_output_mask(self, inputs: Tensor,
                            data_samples: SampleList) -> Tensor | None:
        """(B, H, W) bool mask of the outputs the losses read, or None.

        None (compute everything) when a sample has no ground truth of the
        input's size, or when no pixel of the batch is labeled.
        """
        labels: list[Tensor] = []
        for sample in data_samples:
            gt = getattr(sample, 'gt_sem_seg', None)
            if gt is None or tuple(gt.data.shape[-2:]) != tuple(
                    inputs.shape[-2:]):
                return None
            labels.append(gt.data.reshape(inputs.shape[-2:]))
        mask = torch.stack(labels) != self.decode_head.ignore_index
        if not bool(mask.any()):
            return None
        return dilate_pixel_mask(mask, self.feature_margin)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of a batch, the backbone computing only what they read."""
        mask = self.labeled_output_mask(inputs, data_samples)
        feats = self.backbone(inputs) if mask is None else self.backbone(
            inputs, output_mask=mask.to(inputs.device))
        losses = dict()
        losses.update(self._decode_head_forward_train(feats, data_samples))
        if self.with_auxiliary_head:
            losses.update(
                self._auxiliary_head_forward_train(feats, data_samples))
        return losses
