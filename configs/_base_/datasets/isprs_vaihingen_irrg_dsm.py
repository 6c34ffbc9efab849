# ISPRS Vaihingen, IRRG + DSM, MoBaNet protocol (arXiv 2603.17705): the 16
# training areas (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34,
# 37), the 17 test areas, eroded noBoundary labels, DSM min-max scaled per
# area. Random 256 x 256 windows, flips only.
# Layout (the error for missing files repeats it): data/vaihingen/
#   top/top_mosaic_09cm_area{N}.tif, dsm/dsm_09cm_matching_area{N}.tif,
#   top_mosaic_09cm_area{N}_noBoundary.tif (eroded reference)
dataset_type = 'ISPRSVaihingenDataset'
data_root = 'data/vaihingen'
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadRandomMultimodalWindow', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackSegInputs')
]
test_pipeline = [dict(type='LoadMultimodalTile'), dict(type='PackSegInputs')]
train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        optical='IRRG',
        label_kind='noBoundary',
        dsm_normalization='minmax',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        optical='IRRG',
        label_kind='noBoundary',
        dsm_normalization='minmax',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='RemoteSensingSegMetric',
    mean_classes=('impervious_surfaces', 'building', 'low_vegetation',
                  'tree', 'car'))
test_evaluator = val_evaluator
