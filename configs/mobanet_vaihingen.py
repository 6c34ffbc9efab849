# MoBaNet (Li et al., arXiv 2603.17705) on ISPRS Vaihingen (IRRG + DSM), the
# official protocol: frozen DINOv2 ViT-L/14 (timm 'lvd142m' weights, or a
# local file: model.backbone.foundation_model.pretrained=/path/file), AdamW
# 2e-4 / wd 0.05 (none on norms, biases, 1-D), the official per-epoch
# schedule (5 warm-up epochs at (e + 1) / 5 of 2e-4, then a per-epoch cosine
# to 1e-6; 50 epochs of 1000 iterations at batch 24), official UPerNet head,
# random 256 crops with flips, sliding-window test 256 / stride 32.
# Trainable 8.98M (tools/param_report.py).
#   python tools/train.py configs/mobanet_vaihingen.py
#   python tools/test_modality_robustness.py configs/mobanet_vaihingen.py CKPT
# Validation runs once, at the end: the stride-32 sliding window over the 17
# ~2000 x 2500 test areas is ~80k dual-stream ViT-L passes.
_base_ = [
    '_base_/models/mobanet_vit_l.py',
    '_base_/datasets/isprs_vaihingen_irrg_dsm.py',
    '_base_/schedules/schedule_mobanet_50k.py', '_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
train_cfg = dict(val_interval=50000)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=2))
