# ISPRS Vaihingen, IRRG + DSM, MoBaNet protocol (arXiv 2603.17705): the 16
# training areas (1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34,
# 37), the 17 test areas, eroded noBoundary labels, DSM min-max scaled per
# area. Random 256 x 256 windows, flips only. Pipelines, loaders and metric
# are Potsdam's (the same protocol); only the dataset differs.
# Layout (the error for missing files repeats it): data/vaihingen/
#   top/top_mosaic_09cm_area{N}.tif, dsm/dsm_09cm_matching_area{N}.tif,
#   top_mosaic_09cm_area{N}_noBoundary.tif (eroded reference)
_base_ = './isprs_potsdam_rgb_dsm.py'
dataset_type = 'ISPRSVaihingenDataset'
data_root = 'data/vaihingen'
train_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, split='train',
        optical='IRRG'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, optical='IRRG'))
test_dataloader = val_dataloader
