"""Train a config of MMSeg's own, with or without m3plugins; print the result.

Run in a fresh interpreter by ``test_own_mmseg_project.py``:

    python train_mmseg_own_config.py WORK_DIR (with|without)

A tiny FCN (MMSeg's ``EncoderDecoder`` + ``MixVisionTransformer`` +
``FCNHead``, MMSeg's ``CrossEntropyLoss`` with class weights and no ignored
pixel) trains 3 iterations on generated PNG images in MMSeg's
``BaseSegDataset`` layout through mmengine's ``Runner.from_cfg``. ``with``
adds ``custom_imports = dict(imports=['m3plugins'])`` to the config, as a
user adds it to their own project; ``without`` loads only the mmcv-lite
``mmcv.ops`` stand-in, from its file alone (MMSeg cannot import on
mmcv-lite otherwise). The last line printed is JSON: the logged losses and
a digest of every tensor of the saved checkpoint.
"""
import hashlib
import importlib.util
import json
import os
import os.path as osp
import sys

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _write_images(root: str) -> None:
    """Eight 32 x 32 RGB images with 2-class label maps (PNG, MMSeg layout)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ('img', 'ann'):
        os.makedirs(osp.join(root, split), exist_ok=True)
    for index in range(8):
        label = (rng.random((32, 32)) < 0.5).astype(np.uint8)
        image = (label[..., None] * 120 + rng.integers(0, 100, (32, 32, 3)))
        Image.fromarray(image.astype(np.uint8)).save(
            osp.join(root, 'img', f'{index}.png'))
        Image.fromarray(label).save(osp.join(root, 'ann', f'{index}.png'))


def _config(root: str, work_dir: str, with_plugin: bool) -> dict:
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    cfg = dict(
        default_scope='mmseg',
        work_dir=work_dir,
        randomness=dict(seed=0, deterministic=True),
        env_cfg=dict(cudnn_benchmark=False,
                     mp_cfg=dict(mp_start_method='fork'),
                     dist_cfg=dict(backend='nccl')),
        model=dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor',
                                   mean=[100.0] * 3, std=[50.0] * 3,
                                   size=(32, 32)),
            backbone=dict(type='MixVisionTransformer', in_channels=3,
                          embed_dims=8, num_stages=1, num_layers=[1],
                          num_heads=[1], patch_sizes=[7], strides=[4],
                          sr_ratios=[1], out_indices=(0, )),
            decode_head=dict(
                type='FCNHead', in_channels=8, channels=8, num_convs=1,
                concat_input=False, num_classes=2,
                loss_decode=dict(type='CrossEntropyLoss',
                                 class_weight=[1.0, 2.0])),
            test_cfg=dict(mode='whole')),
        train_dataloader=dict(
            batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(type='BaseSegDataset', data_root=root,
                         img_suffix='.png', seg_map_suffix='.png',
                         data_prefix=dict(img_path='img',
                                          seg_map_path='ann'),
                         metainfo=dict(classes=('a', 'b'),
                                       palette=[[0, 0, 0], [255, 0, 0]]),
                         pipeline=pipeline)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=3)),
        log_level='WARNING')
    if with_plugin:
        cfg['custom_imports'] = dict(imports=['m3plugins'],
                                     allow_failed_imports=False)
    return cfg


def main(work_dir: str, variant: str) -> None:
    spec = importlib.util.spec_from_file_location(
        '_mmcv_ops_alone', osp.join(REPO, 'm3plugins', 'compat',
                                    'mmcv_ops.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_mmcv_ops_fallback()
    from mmengine.config import Config
    from mmengine.runner import Runner

    root = osp.join(work_dir, 'data')
    _write_images(root)
    cfg_dict = _config(root, osp.join(work_dir, 'work'), variant == 'with')
    text = ''.join(f'{key} = {value!r}\n' for key, value in cfg_dict.items())
    path = osp.join(work_dir, 'own_config.py')
    with open(path, 'w') as file:
        file.write(text)
    cfg = Config.fromfile(path)
    runner = Runner.from_cfg(cfg)
    losses = []

    from mmengine.hooks import Hook

    class LossRecorder(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            losses.append(float(outputs['loss']))

    runner.register_hook(LossRecorder())
    runner.train()
    import torch
    checkpoint = torch.load(osp.join(work_dir, 'work', 'iter_3.pth'),
                            map_location='cpu', weights_only=False)
    digest = hashlib.sha256()
    for key, value in sorted(checkpoint['state_dict'].items()):
        digest.update(key.encode())
        digest.update(value.numpy().tobytes())
    print(json.dumps(dict(losses=losses, state_dict=digest.hexdigest(),
                          plugin_loaded='m3plugins' in sys.modules)))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
