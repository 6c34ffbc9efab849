"""Inference follows the data contract of the checkpoint, else the config's.

A checkpoint written as mmengine writes one (``meta['dataset_meta']`` holding
the training dataset's metainfo, here a :class:`DataContract`) drives the
modality order, normalisation, no-data handling, classes and tile size even
where the config says otherwise; a checkpoint without one (an MMSeg dataset
of the user's) follows the config's layout and needs the normalisation
given; a contract whose layout is not the model's is an error naming both.
"""
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import torch
from fake_data.isprs_tiles import write_scene_raster
from inference_helpers import probe_config_dict, write_config_file

from m3plugins.apis.inference_contract import (
    config_tile_size,
    inference_contract,
)
from m3plugins.apis.large_scene_inference import (
    infer_large_scene,
    load_segmentor,
    segment_windows,
)
from m3plugins.apis.tiled_predictor import TiledPredictor
from m3plugins.datasets.normalization import normalize
from m3plugins.io import RasterAlignmentError
from m3plugins.structures import DataContract, ModalitySpec
from m3plugins.utils.modalities import ModalityError

NO_CONTRACT = 'The checkpoint has no data contract'
NAMES = ('road', 'roof', 'grass', 'tree', 'car', 'junk')
PALETTE = tuple((10 * i, 20 * i, 30 * i) for i in range(6))


def contract_dsm_first(tile_size=(40, 40), dsm_padding=0):
    """DSM before optical, optical min-max (the config: raw), DSM z-score."""
    return DataContract(
        modalities=(ModalitySpec('dsm', 1, 'zscore', 'tile', nodata_fill=0.0,
                                 edge_padding=dsm_padding),
                    ModalitySpec('optical', 3, 'minmax', 'tile')),
        classes=NAMES, palette=PALETTE, tile_size=tile_size)


def save_checkpoint(model, path, dataset_meta=None):
    """A checkpoint as mmengine's runner saves it (meta['dataset_meta'])."""
    meta = {} if dataset_meta is None else dict(dataset_meta=dataset_meta)
    torch.save(dict(meta=meta, state_dict=model.state_dict()), path)
    return str(path)


def probe_with_checkpoint(tmp_path, dataset_meta, **config):
    """The probe config and a model loaded from a checkpoint of it."""
    cfg = probe_config_dict(**config)
    torch.manual_seed(5)
    weights = load_segmentor(cfg, device='cpu')
    checkpoint = save_checkpoint(weights, tmp_path / 'probe.pth',
                                 dataset_meta)
    return cfg, checkpoint, load_segmentor(cfg, checkpoint, device='cpu')


def test_checkpoint_contract_drives_order_normalisation_classes_tile(
        scene_pair, tmp_path):
    rasters, (optical, dsm) = scene_pair
    # The config's model splits DSM first and its test dataset (ISPRS
    # Potsdam) says raw optical, min-max DSM, 512 px tiles: the contract in
    # the checkpoint wins.
    contract = contract_dsm_first()
    _, _, model = probe_with_checkpoint(
        tmp_path, contract.to_metainfo(),
        modality_channels=[('dsm', 1), ('optical', 3)])
    assert DataContract.from_metainfo(model.dataset_meta) == contract
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message=NO_CONTRACT)
        result = infer_large_scene(model, rasters, str(tmp_path / 'map.tif'),
                                   batch_size=2, progress=False)
    assert result.tile_size == (40, 40) and result.overlap == (10, 10)
    assert result.normalization == dict(dsm='zscore', optical='minmax')
    assert list(result.normalization) == ['dsm', 'optical']
    assert result.nodata_fill == dict(dsm=0.0)
    assert result.classes == NAMES
    # The probe is per pixel: the tiled map is one whole-scene forward on
    # the contract's normalisation, stacked DSM first.
    stacked = np.concatenate(
        [normalize(dsm, 'zscore')[..., None],
         normalize(optical.astype(np.float32), 'minmax')], -1)
    expected = segment_windows(model, [stacked.astype(np.float32)])[0]
    with rasterio.open(result.class_map) as src:
        np.testing.assert_array_equal(src.read(1), expected.argmax(0))
    # An explicit tile size and normalisation still win.
    override = infer_large_scene(
        model, rasters, str(tmp_path / 'o.tif'), tile_size=64,
        normalization=dict(optical='none'), save_preview=False,
        progress=False)
    assert override.tile_size == (64, 64)
    assert override.normalization == dict(dsm='zscore', optical='none')


def test_checkpoint_contract_drives_edge_padding(scene_pair, tmp_path):
    """The config's Potsdam allows a DSM one column short; the contract not."""
    rasters, (_, dsm) = scene_pair
    short = dict(rasters,
                 dsm=write_scene_raster(tmp_path / 'short.tif', dsm[:, :-1]))
    _, _, strict = probe_with_checkpoint(
        tmp_path, contract_dsm_first().to_metainfo(),
        modality_channels=[('dsm', 1), ('optical', 3)])
    with pytest.raises(RasterAlignmentError, match='150x169'):
        infer_large_scene(strict, short, str(tmp_path / 'never.tif'),
                          progress=False)
    assert not (tmp_path / 'never.tif').exists()
    padded = contract_dsm_first(dsm_padding=1).to_metainfo()
    strict.dataset_meta = padded
    result = infer_large_scene(strict, short, str(tmp_path / 'map.tif'),
                               save_preview=False, progress=False)
    assert (result.height, result.width) == (150, 170)


def test_checkpoint_without_contract_needs_the_normalisation(
        scene_pair, tmp_path):
    rasters, _ = scene_pair
    # MMSeg-style dataset_meta (classes and palette only).
    _, _, model = probe_with_checkpoint(
        tmp_path, dict(classes=NAMES, palette=[list(c) for c in PALETTE]))
    with pytest.raises(ValueError, match='Pass normalization explicitly'):
        infer_large_scene(model, rasters, str(tmp_path / 'never.tif'),
                          tile_size=64, save_preview=False, progress=False)
    assert not (tmp_path / 'never.tif').exists()
    result = infer_large_scene(model, rasters, str(tmp_path / 'map.tif'),
                               tile_size=64, save_preview=False,
                               progress=False,
                               normalization=dict(optical='none',
                                                  dsm='minmax'))
    assert result.normalization == dict(optical='none', dsm='minmax')
    # Classes: the config's test dataset (ISPRS Potsdam) declares them.
    assert result.classes[0] == 'impervious_surfaces'


def test_contract_whose_layout_is_not_the_models_names_both(
        scene_pair, tmp_path):
    rasters, _ = scene_pair
    contract = contract_dsm_first()
    # The model splits optical first.
    _, _, model = probe_with_checkpoint(tmp_path, contract.to_metainfo())
    with pytest.raises(ModalityError, match=(
            r"(?s)checkpoint's data contract stacks dsm=1, optical=3.*"
            r"model's modality_channels are optical=3, dsm=1")):
        infer_large_scene(model, rasters, str(tmp_path / 'never.tif'),
                          progress=False)
    # A band count that differs is named with both counts.
    model.dataset_meta = DataContract(
        modalities=(ModalitySpec('optical', 4), ModalitySpec('dsm', 1)),
        classes=NAMES).to_metainfo()
    with pytest.raises(ModalityError, match='optical has 4 bands, the model '
                       'expects 3'):
        inference_contract(model)
    assert not (tmp_path / 'never.tif').exists()


def test_cli_follows_the_checkpoint_contract(scene_pair, tmp_path,
                                             repo_root):
    from test_large_scene_inference import load_infer_tool
    main = load_infer_tool(repo_root).main
    rasters, _ = scene_pair
    cfg, checkpoint, model = probe_with_checkpoint(
        tmp_path, contract_dsm_first().to_metainfo(),
        modality_channels=[('dsm', 1), ('optical', 3)])
    config_file = write_config_file(cfg, tmp_path / 'probe_cfg.py')
    out = tmp_path / 'cli.tif'
    args = [config_file, checkpoint, '--modality',
            f'optical={rasters["optical"]}', '--modality',
            f'dsm={rasters["dsm"]}', '--device', 'cpu', '--no-progress']
    assert main(args + ['--out', str(out)]) == 0
    api = infer_large_scene(model, rasters, str(tmp_path / 'api.tif'),
                            save_preview=False, progress=False)
    assert api.tile_size == (40, 40)
    with rasterio.open(out) as cli_map, rasterio.open(api.class_map) as ref:
        np.testing.assert_array_equal(cli_map.read(), ref.read())
    # A checkpoint whose contract disagrees with the model: exit status 2.
    cfg.model.backbone.modality_channels = [('optical', 3), ('dsm', 1)]
    cfg.model.data_preprocessor.modality_channels = [('optical', 3),
                                                     ('dsm', 1)]
    other = write_config_file(cfg, tmp_path / 'other_cfg.py')
    assert main([other, *args[1:], '--out', str(tmp_path / 'x.tif')]) == 2


def test_without_contract_the_override_decides_per_modality():
    def contract_of(cfg, normalization=None):
        return inference_contract(SimpleNamespace(cfg=cfg), normalization)

    def methods(contract):
        return {m.name: m.normalization for m in contract.modalities}

    bare = probe_config_dict(dataset=None)
    with pytest.raises(ValueError, match='Pass normalization explicitly'):
        contract_of(bare)
    assert methods(contract_of(bare, 'none')) == dict(optical='none',
                                                      dsm='none')
    # Modalities the override leaves out get min-max; unknown ones named.
    assert methods(contract_of(bare, dict(dsm='zscore'))) == dict(
        optical='minmax', dsm='zscore')
    with pytest.raises(ValueError, match='not in use'):
        contract_of(bare, dict(sar='none'))
    assert contract_of(bare, 'none').tile_size == (512, 512)
    # No layout in the model's config (its data preprocessor).
    del bare.model.data_preprocessor['modality_channels']
    with pytest.raises(ValueError, match='declares no modality layout'):
        contract_of(bare, 'none')


def test_tile_size_of_a_config():
    cfg = probe_config_dict()
    # Tile size: the slide crop, else the preprocessor's size.
    assert config_tile_size(cfg) is None
    cfg.model.data_preprocessor.size = (56, 56)
    assert config_tile_size(cfg) == (56, 56)
    cfg.model.test_cfg = dict(mode='slide', crop_size=(256, 200),
                              stride=(32, 32))
    assert config_tile_size(cfg) == (256, 200)


def test_legend_from_the_contract_else_generated():
    model = SimpleNamespace(dataset_meta=None)
    predictor = TiledPredictor(model, contract_dsm_first())
    names, palette = predictor.legend(6)
    assert names == list(NAMES) and palette[2] == [20, 40, 60]
    names, palette = predictor.legend(4)
    assert names == ['class 0', 'class 1', 'class 2', 'class 3']
    assert len(palette) == 4
    with pytest.raises(ValueError, match='overlap < tile_size'):
        TiledPredictor(model, contract_dsm_first(), tile_size=8, overlap=8)


def test_modalities_the_model_fills_in_may_be_absent_from_the_contract():
    cfg = probe_config_dict()
    cfg.model.data_preprocessor.missing_modalities = ['dsm']
    optical_only = DataContract(
        modalities=(ModalitySpec('optical', 3, 'none'), ), classes=NAMES)
    model = SimpleNamespace(cfg=cfg, dataset_meta=optical_only.to_metainfo())
    assert inference_contract(model).modality_channels == dict(optical=3)
    # Present modalities must still be the model's.
    model.dataset_meta = DataContract(
        modalities=(ModalitySpec('optical', 4), ), classes=NAMES
    ).to_metainfo()
    with pytest.raises(ModalityError, match='optical=4.*optical=3, dsm=1'):
        inference_contract(model)
