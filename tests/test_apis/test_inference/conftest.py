"""Fixtures of the large-scene inference tests.

Helpers are in ``inference_helpers.py``, rasters from
``fake_data.isprs_tiles``.
"""
import pytest
import torch
from fake_data.isprs_tiles import make_scene, write_scene_raster
from inference_helpers import potsdam_contract, probe_config_dict, trained_on


@pytest.fixture
def probe_model():
    """The probe segmentor on CPU: seeded weights, Potsdam's contract."""
    from m3plugins.apis.large_scene_inference import load_segmentor
    torch.manual_seed(0)
    return trained_on(load_segmentor(probe_config_dict(), device='cpu'),
                      potsdam_contract())


@pytest.fixture
def scene_pair(tmp_path):
    """Georeferenced 150 x 170 optical + DSM GeoTIFFs (EPSG:32632)."""
    optical, dsm = make_scene(150, 170)
    return dict(
        optical=write_scene_raster(tmp_path / 'optical.tif', optical),
        dsm=write_scene_raster(tmp_path / 'dsm.tif', dsm)), (optical, dsm)
