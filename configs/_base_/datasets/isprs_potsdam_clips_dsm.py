# ISPRS Potsdam as MMSeg's 512 x 512 clips (tools/dataset_converters/
# potsdam.py: img_dir/{train,val}, ann_dir/{train,val} eroded labels, 0 =
# ignore) plus the DSM clips of tools/dataset_converters/isprs_multimodal.py
# (dsm_dir/{train,val}, float32, min-max scaled per original tile):
#   python tools/dataset_converters/isprs_multimodal.py potsdam \
#       /path/to/ISPRS/Potsdam -o data/potsdam --dsm-only
# MMSeg's split (24 train tiles with 7_10, 14 val tiles), MoBaNet's
# augmentation (random 256 crops, flips). Loaders, data_root, crop size and
# the paper-protocol metric are the whole-tile base's. Scores on clips are
# not the tile protocol of the papers (edge clips overlap, so their pixels
# count twice); use isprs_potsdam_rgb_dsm.py for paper numbers.
_base_ = './isprs_potsdam_rgb_dsm.py'
dataset_type = 'ISPRSPotsdamClipsDataset'
# LoadMultimodalClip stacks the item's modalities (optical, then the DSM;
# only optical with with_dsm=False); LoadAnnotations applies MMSeg's
# reduce_zero_label (0 -> 255, 1..6 -> 0..5).
train_pipeline = [
    dict(type='LoadMultimodalClip'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadMultimodalClip'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root={{_base_.data_root}},
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train',
            dsm_path='dsm_dir/train'),
        with_dsm=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root={{_base_.data_root}},
        data_prefix=dict(
            img_path='img_dir/val', seg_map_path='ann_dir/val',
            dsm_path='dsm_dir/val'),
        with_dsm=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
