# MoBaNet (Li et al., arXiv 2603.17705) on MMSeg's Vaihingen clips (IRRG,
# tools/dataset_converters/vaihingen.py) plus dsm_dir from
#   python tools/dataset_converters/isprs_multimodal.py vaihingen \
#       /path/to/ISPRS/Vaihingen -o data/vaihingen --dsm-only
#   python tools/train.py configs/mobanet/mobanet_vaihingen_clips.py
# As mobanet_potsdam_clips.py, with the Vaihingen clip data set.
_base_ = [
    '../_base_/models/mobanet_vit_l.py',
    '../_base_/datasets/isprs_vaihingen_clips_dsm.py',
    '../_base_/schedules/schedule_mobanet_50k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(128, 128)))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=2))
