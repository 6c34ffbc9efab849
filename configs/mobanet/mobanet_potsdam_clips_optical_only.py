# MoBaNet for MMSeg's Potsdam clips without a DSM (img_dir / ann_dir only):
#   python tools/train.py configs/mobanet/mobanet_potsdam_clips_optical_only.py
# The data set serves 3-channel optical clips (with_dsm=False) and the data
# preprocessor runs with missing_modalities=['dsm']: it normalises the
# optical channels with the base model's statistics and puts a zero DSM
# (zero after normalisation, what MCRM trains with) where the DSM channel
# belongs, so the architecture, and its checkpoints, stay those of the
# RGB + DSM model. What this costs is in configs/mobanet/README.md.
_base_ = './mobanet_potsdam_clips.py'
train_dataloader = dict(dataset=dict(with_dsm=False))
val_dataloader = dict(dataset=dict(with_dsm=False))
test_dataloader = val_dataloader
# MCRM masks one modality of RGB + DSM batches; there is none to balance.
model = dict(
    data_preprocessor=dict(missing_modalities=['dsm'], mcrm=None))
