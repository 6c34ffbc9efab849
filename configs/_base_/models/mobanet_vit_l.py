# MoBaNet (Li et al., arXiv 2603.17705) with a frozen DINOv2 ViT-L/14, as the
# official code (sauryeo/MoBaNet): optical (3) + DSM (1) stacked channels,
# CPIA before each stage, taps after blocks 5/11/17/23, DGFM fusion, shared
# 1x1 projections to 256, the official UPerNet head (MoBaNetUPerHead, 64
# channels), hard-pixel auxiliary heads (0.01).
# Trainable: 8.98M (7.80M without the auxiliary heads); frozen 304.37M.
# Weights: pretrained='lvd142m' downloads timm's DINOv2 weights; offline,
# pass a local file instead (the error names the file and where to get it).
num_classes = 6
# SyncBN as MMSeg's multi-GPU configs: one set of statistics over all ranks
# (mmengine turns it back into BN in a single process).
norm_cfg = dict(type='SyncBN', requires_grad=True)
# The modality layout is declared here once (the segmentor passes it on to
# the backbone): stacking order of the input channels, as (name, channels)
# pairs, which keep their order when mmengine dumps the config.
# Optical: the tower's ImageNet statistics on 0-255 pixels; DSM: already
# min-max scaled to [0, 1] per tile by the dataset, so left as it is.
# MCRM (training only): 25 % of each batch, half optical / half DSM,
# num_blocks rectangles (official default 1) of 10-30 % of the crop each,
# aspect 0.5-2, zero after normalisation.
# Missing-modality tests: --cfg-options
# model.data_preprocessor.missing_modalities="['dsm']".
data_preprocessor = dict(
    type='MultimodalSegDataPreProcessor',
    modality_channels=[('optical', 3), ('dsm', 1)],
    mean=[123.675, 116.28, 103.53, 0.0],
    std=[58.395, 57.12, 57.375, 1.0],
    missing_modalities=[],
    mcrm=dict(
        ratio=0.25,
        area_range=(0.1, 0.3),
        aspect_range=(0.5, 2.0),
        num_blocks=1,  # rectangles per masked sample (official default)
        modalities=None),
    pad_val=0,
    seg_pad_val=255,
    size=(256, 256))
model = dict(
    type='MoBaNetSegmentor',
    data_preprocessor=data_preprocessor,
    aux_hard_pixels_only=True,
    backbone=dict(
        type='MoBaNetBackbone',
        foundation_model=dict(
            source='timm',
            name='vit_large_patch14_dinov2',
            pretrained='lvd142m'),
        tap_indices=None,  # (5, 11, 17, 23) for 24 blocks
        cpia_ratio=0.25,
        cpia_activation=None,  # the official CPIA is affine
        use_cpia=True,
        trainable_dsm_patch_embed=True,
        norm_taps=True,
        # Weights load in init_weights (after the datasets are built).
        defer_pretrained=True),
    neck=dict(
        type='DifferenceGuidedGatedFusion',
        in_channels=1024,
        num_stages=4,
        out_channels=256,
        gate_ratio=0.25,
        shared_projection=True,
        out_scales=None),  # all stages at 1/14, as the official model
    # Neck output: fused 0-3, optical 4-7, DSM 8-11.
    # The official UperNetHead (sauryeo/MoBaNet, Net.py): lateral 1x1
    # conv + BN without activation, ReLU6, Dropout2d, bias-free classifier,
    # PyTorch's initialisation; official decoder.<key> = decode_head.<key>.
    # MMSeg's head instead (ReLU also after the laterals, biased
    # classifier): decode_head=dict(type='UPerHead').
    decode_head=dict(
        type='MoBaNetUPerHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=64,
        dropout_ratio=0.1,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        # Mean over scored pixels, as torch's CE with ignore_index (the
        # eroded noBoundary labels leave many pixels unscored).
        loss_decode=dict(
            type='ClassWeightedCrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0,
            avg_non_ignore=True)),
    # One hard-pixel auxiliary head per stream, on the stage-1 taps:
    # in_index 4 is the optical stream's, 8 the DSM stream's. The official
    # AuxHead: 3x3 conv-BN-ReLU6, nn.Dropout(0.1), bias-free 1x1 classifier.
    # MMSeg's alternative: type='FCNHead', num_convs=1, concat_input=False
    # (ReLU, Dropout2d, biased classifier).
    auxiliary_head=[
        dict(
            type='MoBaNetAuxHead',
            in_channels=256,
            in_index=in_index,
            channels=256,
            kernel_size=3,
            act_cfg=dict(type='ReLU6'),
            dropout_type='Dropout',
            dropout_ratio=0.1,
            classifier_bias=False,
            num_classes=num_classes,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(
                type='ClassWeightedCrossEntropyLoss', use_sigmoid=False,
                loss_weight=0.01, avg_non_ignore=True))
        for in_index in (4, 8)
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(32, 32)))
