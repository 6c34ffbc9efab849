"""GPU check tool and CUDA benchmark section on a machine without CUDA.

tools/gpu_check.py and the CUDA section of tools/benchmark_scan.py parse,
their helpers work, and they skip cleanly.
"""
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from repo_root import REPO_ROOT

REPO = REPO_ROOT
sys.path.insert(0, osp.join(REPO, 'tools'))

import benchmark_scan  # noqa: E402
import gpu_check  # noqa: E402


def _without_cuda_env():
    return dict(os.environ, CUDA_VISIBLE_DEVICES='')


@pytest.mark.parametrize('cmd,expected', [
    (['tools/gpu_check.py'], 'no CUDA device: skipped'),
    (['tools/benchmark_scan.py', '--device', 'cuda'],
     '[cuda] skipped: no CUDA device'),
])
@pytest.mark.slow
def test_tools_skip_cleanly_on_machines_without_a_gpu(cmd, expected):
    proc = subprocess.run([sys.executable] + cmd, cwd=REPO,
                          env=_without_cuda_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expected in proc.stdout


def test_gpu_check_configs_and_inputs():
    from mmengine.config import Config
    args = gpu_check.parse_args([])
    assert args.families == list(gpu_check.FAMILIES) and not args.skip_tests
    assert sum(gpu_check.TIME_LIMITS.values()) <= 6 * 60
    channels = {}
    for name, (config, *_) in gpu_check.FAMILIES.items():
        channels[name] = gpu_check.input_channels(
            Config.fromfile(osp.join(REPO, config)))
    assert channels == dict(mobanet=4, m3amba=145, spectralmamba=145)
    labels = gpu_check.random_labels(2, 10, 20, 5, None,
                                     torch.Generator().manual_seed(0))
    assert labels.shape == (2, 1, 10, 20)
    assert ((labels != 255).flatten(1).sum(1) == 20).all()
    assert int(labels[labels != 255].max()) < 5
    sparse = gpu_check.random_labels(1, 10, 20, 5, 7,
                                     torch.Generator().manual_seed(0))
    assert int((sparse != 255).sum()) == 7


def test_benchmark_bandwidth_helpers(monkeypatch):
    inputs = benchmark_scan.make_inputs(2, 8, 16, 4, 2)
    # u, delta: 2*8*16 fp32 each; B, C: 2*2*4*16 fp32 each; output like u.
    assert benchmark_scan.scan_traffic_bytes(inputs) == 3 * 4096 + 2 * 1024
    props = SimpleNamespace(name='NVIDIA H100 80GB HBM3',
                            memory_clock_rate=2619000, memory_bus_width=5120)
    monkeypatch.setattr(torch.cuda, 'get_device_properties',
                        lambda device=None: props)
    peak, source = benchmark_scan.peak_bandwidth()
    assert abs(peak - 3.35e12) < 0.01e12 and 'bus width' in source
    props.memory_clock_rate = 0
    assert benchmark_scan.peak_bandwidth() == (3.35e12, "table entry 'H100'")
    props.name = 'NVIDIA H200'
    assert benchmark_scan.peak_bandwidth() == (4.8e12, "table entry 'H200'")
    props.name = 'Some Future GPU'
    assert benchmark_scan.peak_bandwidth() == (None, 'unknown')
