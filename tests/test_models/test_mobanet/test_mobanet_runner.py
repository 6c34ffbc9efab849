"""MoBaNet through mmengine's Runner on generated Potsdam-layout tiles."""
import os.path as osp

import pytest
import torch
from fake_data.isprs_tiles import write_fake_potsdam
from mmengine.runner import Runner  # noqa: E402
from mobanet_helpers import tiny_demo_config


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('potsdam'))
    write_fake_potsdam(root, ('2_10', '3_11', '2_13'), size=64,
                       learnable=True)
    work_dir = tmp_path_factory.mktemp('work')
    cfg = tiny_demo_config(root, work_dir, max_iters=4)
    runner = Runner.from_cfg(cfg)
    masked = []
    model = runner.model
    masking = model.data_preprocessor.mcrm

    def record_masking(inputs, data_samples=None):
        done = masking(inputs, data_samples)
        masked.append([done.get(i, (None, ))[0]
                       for i in range(len(inputs))])
        return done

    model.data_preprocessor.mcrm = record_masking
    tower_before = {k: v.clone() for k, v in
                    model.backbone.foundation.state_dict().items()}
    trainable_before = model.neck.projections[0][0].weight.clone()
    runner.train()
    return dict(runner=runner, cfg=cfg, root=root, work_dir=work_dir,
                masked=masked,
                tower_before=tower_before,
                trainable_before=trainable_before)


def test_training_updates_only_trainable_parts(trained):
    runner = trained['runner']
    model = runner.model
    assert type(model.data_preprocessor).__name__ == \
        'MultimodalSegDataPreProcessor'
    # Batch 4 at ratio 0.25: one sample per iteration, DSM (n // 2 = 0
    # optical), in every one of the 4 iterations and nowhere else.
    assert len(trained['masked']) == 4
    for batch in trained['masked']:
        assert batch.count('dsm') == 1 and batch.count(None) == 3
    for key, value in model.backbone.foundation.state_dict().items():
        assert torch.equal(value, trained['tower_before'][key]), key
    assert not torch.equal(model.neck.projections[0][0].weight,
                           trained['trainable_before'])
    optimizer = runner.optim_wrapper.optimizer
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert frozen and all(not optimizer.state.get(p) for p in frozen)
    assert osp.isfile(osp.join(trained['work_dir'], 'iter_4.pth'))


def test_validation_reports_paper_metrics(trained):
    metrics = trained['runner'].val_loop.run()
    for key in ('mIoU', 'mF1', 'OA', 'Kappa', 'IoU.car', 'mIoU_all'):
        assert key in metrics, key
    assert 0 <= metrics['OA'] <= 100


def test_test_without_dsm_from_the_config_switch(trained):
    cfg = trained['cfg'].copy()
    cfg.load_from = osp.join(trained['work_dir'], 'iter_4.pth')
    cfg.model.data_preprocessor.missing_modalities = ['dsm']
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert runner.model.data_preprocessor.missing_modalities == ['dsm']
    assert 'mIoU' in metrics


def test_modality_robustness_tool(trained, monkeypatch, capsys, repo_root):
    import json
    import runpy
    config = osp.join(trained['work_dir'], 'tiny_demo.py')
    trained['cfg'].dump(config)
    tool = runpy.run_path(
        osp.join(repo_root, 'tools/test_modality_robustness.py'))
    work_dir = osp.join(trained['work_dir'], 'robustness')
    monkeypatch.setattr('sys.argv', [
        'test_modality_robustness.py', config,
        osp.join(trained['work_dir'], 'iter_4.pth'), '--work-dir', work_dir])
    tool['main']()
    out = capsys.readouterr().out
    header = [line for line in out.splitlines() if line.startswith('metric')]
    assert header and header[0].split()[1:] == [
        'full', 'without', 'optical', 'without', 'dsm']
    assert any(line.startswith('mIoU ') for line in out.splitlines())
    with open(osp.join(work_dir, 'modality_robustness.json')) as f:
        results = json.load(f)
    assert list(results) == ['full', 'without optical', 'without dsm']
    assert all('OA' in metrics for metrics in results.values())
    # Removing a modality changes the predictions of this model.
    assert len({round(m['OA'], 6) for m in results.values()}) > 1
