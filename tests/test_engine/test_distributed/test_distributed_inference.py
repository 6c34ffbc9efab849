"""Large-scene inference on two processes writes the single-process maps."""
import os.path as osp

import pytest
import torch
from distributed_runs import REPO, run_tool, write_tiny_config
from mmengine.config import Config
from mmengine.registry import init_default_scope

from m3plugins.apis.tile_sharing import TileSharing


def test_one_process_predicts_every_batch_in_order():
    sharing = TileSharing()
    calls = []
    rows = [sharing.predict_row([[0, 1], [2]], lambda b: calls.append(b)
                                or len(b)) for _ in range(2)]
    assert rows == [[2, 1], [2, 1]]
    assert calls == [[0, 1], [2]] * 2 and sharing.next_batch == 4
    with pytest.raises(ValueError, match='rank 2'):
        TileSharing(rank=2, world_size=2)


OPTIONS = ['--tile-size', '112', '--overlap', '28', '--batch-size', '2',
           '--save-probs', '--no-progress', '--device', 'cpu']


def tiny_model_checkpoint(demo_data, tmp_path):
    """A tiny MoBaNet config and a checkpoint of its initial weights.

    The checkpoint carries the data contract of the config's test dataset,
    as one saved by training does.
    """
    config = write_tiny_config('mobanet', demo_data, str(tmp_path / 'c.py'))
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS, MODELS
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    contract = DATASETS.build(cfg.test_dataloader.dataset).metainfo
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=contract)), checkpoint)
    return config, checkpoint


def tile_rasters(demo_data, tile):
    potsdam = osp.join(demo_data, 'potsdam')
    row, col = tile.split('_')
    return dict(
        optical=f'{potsdam}/2_Ortho_RGB/top_potsdam_{tile}_RGB.tif',
        dsm=f'{potsdam}/1_DSM/dsm_potsdam_{int(row):02d}_{int(col):02d}.tif')


def assert_same_files(first, second):
    for suffix in ('.tif', '_probs.tif', '.png'):
        with open(first.replace('.tif', suffix), 'rb') as one, \
                open(second.replace('.tif', suffix), 'rb') as two:
            assert one.read() == two.read(), suffix


@pytest.mark.slow
def test_two_processes_write_the_single_process_maps_bit_for_bit(
        demo_data, tmp_path):
    config, checkpoint = tiny_model_checkpoint(demo_data, tmp_path)
    rasters = tile_rasters(demo_data, '2_13')
    args = [config, checkpoint,
            '--modality', f'optical={rasters["optical"]}',
            '--modality', f'dsm={rasters["dsm"]}', *OPTIONS]
    outputs = {}
    for nproc in (1, 2):
        out = str(tmp_path / f'out{nproc}' / 'map.tif')
        log = run_tool('infer', args + ['--out', out], cwd=str(tmp_path),
                       nproc=nproc).stdout
        assert '36 tiles of 112x112' in log
        assert log.count('class map:') == 1  # rank 0 reports
        assert (', 2 processes' in log) == (nproc == 2)
        outputs[nproc] = out
    assert_same_files(outputs[1], outputs[2])


@pytest.mark.slow
def test_two_processes_share_a_scene_list(demo_data, tmp_path):
    config, checkpoint = tiny_model_checkpoint(demo_data, tmp_path)
    tiles = ('2_13', '5_14', '2_10')
    for nproc in (1, 2):
        scenes = tmp_path / f'scenes{nproc}.csv'
        lines = ['out,optical,dsm']
        for tile in tiles:
            rasters = tile_rasters(demo_data, tile)
            lines.append(f'out{nproc}/{tile}.tif,{rasters["optical"]},'
                         f'{rasters["dsm"]}')
        scenes.write_text('\n'.join(lines) + '\n')
        log = run_tool('infer', [config, checkpoint, '--scenes',
                                 str(scenes), *OPTIONS],
                       cwd=str(tmp_path), nproc=nproc).stdout
        # Three scenes, two ranks: whole scenes per rank, one report each.
        assert log.count('class map:') == 3
        assert ', 2 processes' not in log
    for tile in tiles:
        assert_same_files(str(tmp_path / 'out1' / f'{tile}.tif'),
                          str(tmp_path / 'out2' / f'{tile}.tif'))


def test_scene_list_errors_name_the_file_and_line(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'infer_tool', osp.join(REPO, 'tools', 'infer.py'))
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    bad = tmp_path / 'scenes.csv'
    bad.write_text('out,optical\na.tif,\n')
    with pytest.raises(SystemExit, match=r'scenes.csv, line 2: empty'):
        infer_tool.read_scene_list(str(bad))
    bad.write_text('optical,dsm\na.tif,b.tif\n')
    with pytest.raises(SystemExit, match='`out` column'):
        infer_tool.read_scene_list(str(bad))
    with pytest.raises(SystemExit):
        infer_tool.parse_args(['c.py', 'none', '--out', 'x.tif'])
