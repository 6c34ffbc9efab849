# M3amba (Cao et al., "M3amba: CLIP-driven Mamba Model for Multi-modal Remote
# Sensing Classification", arXiv 2503.06446; official code kaka-Cao/M3amba)
# as an MMSeg EncoderDecoder: frozen CLIP ViT-B/32 with trainable modality
# adapters (backbone), Cross-SS2D fusion (neck), three per-pixel heads with
# cross-entropy + cosine consistency (decode head). Paper sizes: width 384,
# 9 layers, d_state 16, expand 2, dt_rank 24, MLP ratio 4, drop-path 0.1;
# about 70.8M trainable parameters for Houston2013 (tools/param_report.py).
# Leaf configs set the modality layout (data_preprocessor.modality_channels),
# num_classes and the data.
crop_size = (32, 32)  # official protocol; the adapters' Linear maps to H * W
# The modality layout is declared once, here: the segmentor passes it on to
# backbone, neck and head; order = channel stacking order. The scene
# datasets normalise (per-band min-max over the scene), so the preprocessor
# only stacks; crops already have crop_size (MMSeg's training batch needs a
# size); labels are padded with 255 (ignored).
data_preprocessor = dict(
    type='MultimodalSegDataPreProcessor',
    modality_channels=[('hsi', 144), ('lidar', 1)],
    size=crop_size,
    mean=None,
    std=None,
    pad_val=0,
    seg_pad_val=255)
lambda_ce = 1.0  # lambda1 (not public; our choice)
lambda_consistency = 1.0  # lambda2 (not public; our choice)
model = dict(
    type='M3amba',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='M3ambaCLIPAdapterBackbone',
        crop_size=crop_size,
        embed_dims=384,
        # OpenAI CLIP ViT-B/32 as in the official code. Offline: download the
        # file named in the error and set pretrained='/path/to/file' (for the
        # OpenAI file add model_kwargs=dict(force_quick_gelu=True)).
        foundation_model=dict(
            source='open_clip', name='ViT-B-32', pretrained='openai'),
        resize_mode='bicubic',  # official: bicubic resize to 224
        normalize_for_tower=True,  # CLIP mean/std on the adapter output
        check_finite=True),
    neck=dict(
        type='M3ambaFusionNeck',
        embed_dims=384,
        depth=9,
        d_state=16,
        expand=2,
        dt_rank=24,
        d_conv=3,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        # Official: plain nn.LayerNorm (eps 1e-5; 1e-6 was our former) and
        # VMamba's _init_weights (trunc_normal std 0.02, zero bias on every
        # Linear; 'pytorch' keeps PyTorch's defaults).
        norm_eps=1e-5,
        linear_init='vmamba',
        scan_backend='auto',
        with_cp=False),
    # Official heads (kaka-Cao/M3amba net/net_vmamba_v4.py, classifier_hsi /
    # _lidar / _add): LayerNorm + 1x1 conv with bias per stream, no dropout,
    # predictions from the fused one (test.py). The fused conv starts from
    # MMSeg's N(0, 0.01) (BaseDecodeHead), the official one from PyTorch's
    # default: init_cfg=None gives the official initialisation.
    decode_head=dict(
        type='M3ambaHead',
        in_channels=384,
        num_classes=15,
        dropout_ratio=0.0,
        ignore_index=255,
        align_corners=False,
        # CE on the modality heads too, relative weight (0: fused head only)
        modality_loss_weight=0.0,
        loss_decode=dict(
            type='ClassWeightedCrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=lambda_ce,
            avg_non_ignore=True),  # mean over labeled pixels
        loss_consistency=dict(
            type='CosineConsistencyLoss',
            loss_weight=lambda_consistency,
            detach_target=False)),
    train_cfg=dict(),
    # Test crops are exactly crop_size (stride-32 grid), one pass each.
    test_cfg=dict(mode='whole'))
# Every trainable parameter reaches the loss (the guide stream's dt
# projection and D, and the modality heads while modality_loss_weight is 0,
# are frozen by their modules), so DDP needs no unused-parameter search:
# default_runtime's model_wrapper_cfg (find_unused_parameters=False) holds.
