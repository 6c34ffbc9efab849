# ISPRS Vaihingen as MMSeg's 512 x 512 clips (tools/dataset_converters/
# vaihingen.py: img_dir, ann_dir; IRRG) plus dsm_dir from
#   python tools/dataset_converters/isprs_multimodal.py vaihingen \
#       /path/to/ISPRS/Vaihingen -o data/vaihingen --dsm-only
# MMSeg's split (16 train areas, 17 val areas). Everything else is the
# Potsdam clip base's; only the dataset and its root differ.
_base_ = './isprs_potsdam_clips_dsm.py'
dataset_type = 'ISPRSVaihingenClipsDataset'
data_root = 'data/vaihingen'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
