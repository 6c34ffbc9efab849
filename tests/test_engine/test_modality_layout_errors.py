"""Band-count errors name the modality and both counts, not stacked totals."""
import pytest
import torch
from repo_root import REPO_ROOT

from m3plugins.utils.modalities import (
    ModalityError,
    check_modality_layout,
    modality_layout_mismatch,
    split_modalities,
)

MODEL = dict(hsi=144, lidar=1)


def test_one_band_short_names_the_modality_and_both_counts():
    assert modality_layout_mismatch(dict(hsi=143, lidar=1), MODEL) == (
        'hsi has 143 bands, the model expects 144 (modality layout '
        'hsi=144, lidar=1; total 144 vs 145)')


def test_layouts_that_agree_pass():
    assert modality_layout_mismatch(dict(hsi=144, lidar=1), MODEL) is None
    check_modality_layout([('hsi', 144), ('lidar', 1)], MODEL)


@pytest.mark.parametrize('found, match', [
    (dict(hsi=144, sar=1), r"missing \['lidar'\], unexpected \['sar'\]"),
    (dict(lidar=1, hsi=144), r"in the order \['lidar', 'hsi'\]"),
    (dict(hsi=143, lidar=2),
     'hsi has 143 bands, the model expects 144; lidar has 2 bands, the '
     'model expects 1'),
])
def test_other_disagreements_are_named(found, match):
    with pytest.raises(ModalityError, match=match):
        check_modality_layout(found, MODEL, where=' (dataset X)')


def test_split_with_the_data_layout_reports_per_modality():
    inputs = torch.zeros(1, 144, 2, 2)
    with pytest.raises(ModalityError,
                       match=r'^hsi has 143 bands, the model expects 144 '
                       r'\(modality layout hsi=144, lidar=1; total 144 vs '
                       r'145\)'):
        split_modalities(inputs, MODEL, data_layout=dict(hsi=143, lidar=1))
    with pytest.raises(ModalityError, match='its data layout says 145'):
        split_modalities(inputs, MODEL, data_layout=MODEL)
    parts = split_modalities(torch.zeros(1, 145, 2, 2), MODEL,
                             data_layout=MODEL)
    assert [p.shape[1] for p in parts.values()] == [144, 1]


def test_split_without_the_data_layout_states_the_expected_layout():
    with pytest.raises(ModalityError,
                       match=r'Input has 144 channels but the model expects '
                       r'145 channels \(hsi 144 \+ lidar 1\)'):
        split_modalities(torch.zeros(1, 144, 2, 2), MODEL)


def _runner_with(model_layout, data_layout, loop='train'):
    """The parts of a Runner the hook reads."""
    from types import SimpleNamespace
    model = torch.nn.Module()
    model.data_preprocessor = SimpleNamespace(
        modality_channels=model_layout, missing_modalities=[])
    dataset = SimpleNamespace(modality_channels=data_layout)
    wrapped = SimpleNamespace(dataset=dataset, times=2)  # RepeatDataset-like
    loop_obj = SimpleNamespace(dataloader=SimpleNamespace(dataset=wrapped))
    return SimpleNamespace(model=model, **{f'{loop}_loop': loop_obj})


def test_layout_hook_compares_dataset_and_model():
    from m3plugins.engine.data_contract_check_hook import (
        DataContractCheckHook,
    )
    hook = DataContractCheckHook()
    with pytest.raises(ModalityError,
                       match=r'^hsi has 143 bands, the model expects 144 .*'
                       r'in the val dataset'):
        hook.before_val(_runner_with(MODEL, dict(hsi=143, lidar=1), 'val'))
    # Same total, same names, counts swapped between modalities: refused.
    with pytest.raises(ModalityError, match='lidar has 2 bands'):
        hook.before_train(_runner_with(MODEL, dict(hsi=143, lidar=2)))
    # Agreeing layouts, other names with the same total, or no layout on
    # either side: accepted.
    hook.before_test(_runner_with(MODEL, dict(MODEL), 'test'))
    hook.before_train(_runner_with([('modality0', 144), ('modality1', 1)],
                                   MODEL))
    hook.before_train(_runner_with(None, MODEL))
    hook.before_train(_runner_with(MODEL, None))


def test_layout_hook_accepts_data_without_a_modality_the_model_fills_in():
    """Data may lack the modalities the data preprocessor fills in."""
    from m3plugins.engine.data_contract_check_hook import (
        DataContractCheckHook,
    )
    hook = DataContractCheckHook()
    layout = dict(optical=3, dsm=1)
    runner = _runner_with(layout, dict(optical=3))
    with pytest.raises(ModalityError, match=r"missing \['dsm'\]"):
        hook.before_train(runner)
    runner.model.data_preprocessor.missing_modalities = ['dsm']  # zero DSM
    hook.before_train(runner)
    hook.before_train(_runner_with(layout, dict(layout)))
    with pytest.raises(ModalityError, match='optical has 4 bands'):
        runner = _runner_with(layout, dict(optical=4))
        runner.model.data_preprocessor.missing_modalities = ['dsm']
        hook.before_train(runner)


@pytest.mark.slow
def test_configs_declare_the_contract_hook_once_in_default_hooks(tmp_path):
    import os.path as osp

    from mmengine.config import Config

    from m3plugins.apis.cli import build_runner
    repo = REPO_ROOT
    cfg = Config.fromfile(osp.join(repo, 'configs', 'mobanet',
                                   'mobanet_demo.py'))
    cfg.work_dir = str(tmp_path)
    assert cfg.default_hooks.data_contract.type == 'DataContractCheckHook'
    runner = build_runner(cfg)
    names = [type(h).__name__ for h in runner.hooks]
    assert names.count('DataContractCheckHook') == 1
