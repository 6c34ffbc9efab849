"""Large-scene inference on two processes writes the single-process maps."""
import os.path as osp

import pytest
import torch
from distributed_runs import run_tool, write_tiny_config
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


@pytest.mark.slow
def test_two_processes_write_the_single_process_maps_bit_for_bit(
        demo_data, tmp_path):
    config = write_tiny_config('mobanet', demo_data, str(tmp_path / 'c.py'))
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    potsdam = osp.join(demo_data, 'potsdam')
    args = [
        config, checkpoint,
        '--modality',
        f'optical={potsdam}/2_Ortho_RGB/top_potsdam_2_13_RGB.tif',
        '--modality', f'dsm={potsdam}/1_DSM/dsm_potsdam_02_13.tif',
        '--tile-size', '112', '--overlap', '28', '--batch-size', '2',
        '--save-probs', '--no-progress', '--device', 'cpu'
    ]
    outputs = {}
    for nproc in (1, 2):
        out = str(tmp_path / f'out{nproc}' / 'map.tif')
        log = run_tool('infer', args + ['--out', out], cwd=str(tmp_path),
                       nproc=nproc).stdout
        assert '36 tiles of 112x112' in log
        assert log.count('class map:') == 1  # rank 0 reports
        assert (', 2 processes' in log) == (nproc == 2)
        outputs[nproc] = out
    for suffix in ('.tif', '_probs.tif', '.png'):
        files = [outputs[n].replace('.tif', suffix) for n in (1, 2)]
        with open(files[0], 'rb') as one, open(files[1], 'rb') as two:
            assert one.read() == two.read(), suffix
