# ISPRS Potsdam, RGB + DSM, MoBaNet protocol (arXiv 2603.17705): train on
# MoBaNet's 23 training tiles (TorchGeo's 24 without 7_10), test on the 14
# test tiles, eroded noBoundary labels, DSM min-max scaled per tile. Random
# 256 x 256 windows read straight from the 6000 x 6000 GeoTIFFs, flips only.
# Layout (the error for missing files repeats it): data/potsdam/
#   1_DSM/dsm_potsdam_{RR}_{CC}.tif, 2_Ortho_RGB/top_potsdam_{R}_{C}_RGB.tif,
#   5_Labels_all_noBoundary/top_potsdam_{R}_{C}_label_noBoundary.tif
dataset_type = 'ISPRSPotsdamDataset'
data_root = 'data/potsdam'
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
        split='train_mobanet',
        optical='RGB',
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
        optical='RGB',
        label_kind='noBoundary',
        dsm_normalization='minmax',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# Paper protocol: mIoU / mF1 over the 5 classes without clutter, OA and
# Kappa over all 6 (mIoU_all / mF1_all also reported).
val_evaluator = dict(
    type='RemoteSensingSegMetric',
    mean_classes=('impervious_surfaces', 'building', 'low_vegetation',
                  'tree', 'car'))
test_evaluator = val_evaluator
