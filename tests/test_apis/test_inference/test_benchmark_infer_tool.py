"""tools/benchmark_infer.py: the generated scene it measures on.

The timed runs themselves are not part of the suite: speed is measured, not
asserted.
"""
import importlib.util
import os.path as osp

import numpy as np
import rasterio


def load_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'm3plugins_tools_benchmark_infer',
        osp.join(repo_root, 'tools', 'benchmark_infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_pair_is_an_aligned_georeferenced_optical_dsm_pair(
        repo_root, tmp_path):
    tool = load_tool(repo_root)
    paths = tool.write_scene(str(tmp_path), 600)
    with rasterio.open(paths['optical']) as optical, \
            rasterio.open(paths['dsm']) as dsm:
        assert (optical.count, optical.dtypes[0]) == (3, 'uint8')
        assert (dsm.count, dsm.dtypes[0]) == (1, 'float32')
        for src in (optical, dsm):
            assert (src.height, src.width) == (600, 600)
            assert src.crs.to_epsg() == 32632
        assert optical.transform == dsm.transform
        heights = dsm.read(1)
        image = optical.read()
    # Written in 512-row blocks: the second block is filled too.
    assert heights[512:].std() > 1 and image[:, 512:].std() > 10
    assert np.isfinite(heights).all()
    args = tool.parse_args(['--size', '64', '--no-baseline'])
    assert args.size == 64 and args.no_baseline and args.repeats == 1
    assert args.config.endswith(osp.join('mobanet', 'mobanet_demo.py'))
