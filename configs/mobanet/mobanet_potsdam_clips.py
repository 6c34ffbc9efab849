# MoBaNet (Li et al., arXiv 2603.17705) on MMSeg's Potsdam clips: the
# img_dir / ann_dir of MMSeg's tools/dataset_converters/potsdam.py plus
# dsm_dir from
#   python tools/dataset_converters/isprs_multimodal.py potsdam \
#       /path/to/ISPRS/Potsdam -o data/potsdam --dsm-only
#   python tools/train.py configs/mobanet/mobanet_potsdam_clips.py
# The official model and schedule (configs/mobanet_potsdam.py) on random 256
# crops of the clips. Each 512 clip is tested by a 256 window sliding at
# 128 (9 passes; the whole-tile config slides at 32 over 6000 x 6000 tiles).
_base_ = [
    '../_base_/models/mobanet_vit_l.py',
    '../_base_/datasets/isprs_potsdam_clips_dsm.py',
    '../_base_/schedules/schedule_mobanet_50k.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['m3plugins'], allow_failed_imports=False)
model = dict(
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(128, 128)))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=2))
