# SpectralMamba (Yao, Hong, Li, Chanussot, arXiv 2404.08489) as an MMSeg
# EncoderDecoder: the backbone gives dense per-pixel features, a 1x1 FCNHead
# classifies every pixel. From the paper: GSSM, piece-wise scanning with
# R = 6 pieces (best on Houston2013), the S6 block, the patchwise and
# pixelwise variants. No official code exists: widths, depth, kernels, the
# head (linear, dropout 0.1) and the training settings are ours (see
# configs/spectralmamba/README.md). Leaf configs set the modality layout
# (data_preprocessor.modality_channels, passed on to the backbone) and the
# classes. Normalisation (per-band min-max over the scene) is done by the
# dataset, so the preprocessor only stacks (mean/std None) and pads labels
# with 255.
data_preprocessor = dict(
    type='MultimodalSegDataPreProcessor',
    modality_channels=[('hsi', 144)],
    mean=None,
    std=None,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=1)  # windows of one protocol share a size: no padding
embed_dims = 32
model = dict(
    # MMSeg's EncoderDecoder, except that in training the backbone scans
    # only the pixels the sparse labels read (same losses and gradients).
    type='SparseLabelEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SpectralMamba',
        variant='patchwise',  # or 'pixelwise': spectrum only, 1x1 everywhere
        spatial_kernel_size=3,  # receptive field 1 + 2 * (k - 1) = 5 pixels
        embed_dims=embed_dims,
        num_pieces=6,  # R; bands zero-padded to a multiple of R
        depth=2,
        gssm_reduction=8,
        share_piece_embedding=True,
        pooling='mean',
        auxiliary_fusion='token',  # LiDAR/SAR as one extra token per pixel
        block_cfg=dict(
            state_dims=4, expand=1, bidirectional=True, conv_kernel_size=3,
            scan_backend='auto'),
        pixel_chunk_size=8192),  # pixels per scan call (exact; bounds memory)
    decode_head=dict(
        type='FCNHead',  # num_convs=0 + kernel 1: a per-pixel linear head
        in_channels=embed_dims,
        channels=embed_dims,
        num_convs=0,
        kernel_size=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=15,
        norm_cfg=None,
        align_corners=False,
        ignore_index=255,
        loss_decode=dict(
            type='ClassWeightedCrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            # sparse labels: average over labeled pixels only
            avg_non_ignore=True)),
    train_cfg=dict(),
    # One pass over the whole input (crop or whole scene); the model is
    # fully convolutional with a 5-pixel receptive field.
    test_cfg=dict(mode='whole'))
