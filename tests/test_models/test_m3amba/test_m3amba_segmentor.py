"""M3amba segmentor: MMSeg modes, inference, optimizer step, bad input."""
import pytest
import torch
from m3amba_helpers import (
    CROP,
    MODALITIES,
    NUM_CLASSES,
    build,
    data_samples,
    tiny_model,
    tiny_model_cfg,
)
from mmengine.optim import build_optim_wrapper

from m3plugins.utils.modalities import ModalityError

CHANNELS = sum(MODALITIES.values())


def _batch(batch=2):
    torch.manual_seed(1)
    inputs = torch.rand(batch, CHANNELS, *CROP)
    labels = torch.full((batch, *CROP), 255)
    labels[:, 2:5, 1:4] = torch.randint(0, NUM_CLASSES, (batch, 3, 3))
    return inputs, labels


def test_loss_predict_and_tensor_modes():
    model = tiny_model()
    inputs, labels = _batch()
    losses = model(inputs, data_samples(labels), mode='loss')
    assert {'decode.loss_ce', 'decode.acc_seg', 'decode.loss_cos_hsi',
            'decode.loss_cos_lidar'} <= set(losses)
    model.eval()
    logits = model(inputs, mode='tensor')
    assert logits.shape == (2, NUM_CLASSES, *CROP)
    results = model(inputs, data_samples(labels), mode='predict')
    assert len(results) == 2
    pred = results[1].pred_sem_seg.data
    assert pred.shape == (1, *CROP)
    assert torch.equal(pred[0], logits[1].argmax(0))
    # Predictions come from the fused head.
    with torch.no_grad():
        fused = model.decode_head(model.extract_feat(inputs))
    torch.testing.assert_close(fused, logits)


def test_modality_channels_reach_backbone_neck_and_head():
    cfg = tiny_model_cfg()
    cfg.data_preprocessor.modality_channels = [('hsi', 3), ('sar', 4),
                                               ('dsm', 1)]
    model = build(cfg)
    assert dict(model.backbone.modality_channels) == dict(hsi=3, sar=4,
                                                          dsm=1)
    assert model.neck.num_modalities == 3
    assert model.decode_head.modality_names == ('hsi', 'sar', 'dsm')
    model.eval()
    assert model(torch.rand(1, 8, *CROP)).shape == (1, NUM_CLASSES, *CROP)


def test_layout_is_taken_from_the_data_preprocessor():
    cfg = tiny_model_cfg()
    cfg.data_preprocessor.modality_channels = [('sar', 4), ('hsi', 3)]
    model = build(cfg)
    assert list(model.modality_channels.items()) == [('sar', 4), ('hsi', 3)]
    assert list(model.backbone.modality_channels) == ['sar', 'hsi']
    assert model.neck.num_modalities == 2
    assert model.decode_head.modality_names == ('sar', 'hsi')
    # The preprocessor is the only home: without its layout, the segmentor
    # says where to declare one (no hard-coded default).
    cfg.data_preprocessor = dict(type='SegDataPreProcessor', size=CROP)
    with pytest.raises(ValueError, match='M3amba needs the modality layout'):
        build(cfg)


def test_conflicting_sub_config_is_rejected():
    cfg = tiny_model_cfg()
    cfg.backbone.modality_channels = dict(hsi=5, lidar=1)
    with pytest.raises(ValueError, match='backbone.modality_channels'):
        build(cfg)
    cfg = tiny_model_cfg()
    cfg.neck.num_modalities = 3
    with pytest.raises(ValueError, match='neck.num_modalities'):
        build(cfg)


def test_slide_inference_over_a_larger_image():
    model = tiny_model(test_cfg=dict(mode='slide', crop_size=CROP,
                                     stride=(4, 3)))
    model.eval()
    image = torch.rand(1, CHANNELS, 12, 9)
    results = model.predict(image)
    assert results[0].seg_logits.data.shape == (NUM_CLASSES, 12, 9)
    # The top-left window alone gives the same logits where nothing
    # overlaps it (rows 0-3, cols 0-2).
    with torch.no_grad():
        window = model(image[..., :CROP[0], :CROP[1]], mode='tensor')[0]
    torch.testing.assert_close(results[0].seg_logits.data[:, :4, :3],
                               window[:, :4, :3])


def test_train_step_tower_gets_no_gradient_and_no_optimizer_state():
    model = tiny_model()
    model.train()
    optim_wrapper = build_optim_wrapper(
        model, dict(type='OptimWrapper',
                    optimizer=dict(type='AdamW', lr=1e-3)))
    tower_before = {k: v.clone()
                    for k, v in model.backbone.tower.state_dict().items()}
    adapter = model.backbone.clip_adapters['hsi'].tower_adapter.weight
    adapter_before = adapter.detach().clone()
    inputs, labels = _batch()
    data = dict(inputs=list(inputs), data_samples=data_samples(labels))
    log_vars = model.train_step(data, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    state = optim_wrapper.optimizer.state
    for name, param in model.backbone.tower.named_parameters():
        assert param.grad is None, name
        assert param not in state or not state[param], name
    for key, value in model.backbone.tower.state_dict().items():
        assert torch.equal(value, tower_before[key]), key
    assert not model.backbone.tower.tower.training
    # The adapter in front of the tower trains through it.
    assert adapter in state and 'exp_avg' in state[adapter]
    assert not torch.equal(adapter.detach(), adapter_before)


def test_dict_input_is_stacked_in_config_order():
    model = tiny_model().eval()
    inputs, _ = _batch()
    parts = dict(lidar=inputs[:, 5:], hsi=inputs[:, :5])  # any order
    with torch.no_grad():
        torch.testing.assert_close(model(parts), model(inputs))


@pytest.mark.parametrize('parts, match', [
    (dict(hsi=torch.rand(1, 5, 8, 6), lidar=torch.rand(1, 2, 8, 5)),
     r'spatial size.*hsi 1x8x6, lidar 1x8x5'),
    (dict(hsi=torch.rand(2, 5, 8, 6), lidar=torch.rand(1, 2, 8, 6)),
     r'hsi 2x8x6, lidar 1x8x6'),
    (dict(hsi=torch.rand(1, 4, 8, 6), lidar=torch.rand(1, 2, 8, 6)),
     r'hsi has 4 bands, the model expects 5 \(modality layout hsi=5, '
     r'lidar=2; total 6 vs 7\)'),
    (dict(hsi=torch.rand(1, 5, 8, 6)), r"missing \['lidar'\]"),
    (dict(hsi=torch.rand(1, 5, 8, 6), lidar=torch.rand(1, 2, 8, 6),
          sar=torch.rand(1, 1, 8, 6)), r"unknown \['sar'\]"),
    (dict(hsi=torch.rand(5, 8, 6), lidar=torch.rand(1, 2, 8, 6)),
     r"'hsi' must be a \(B, C, H, W\)"),
])
def test_bad_modality_dicts_name_the_modality(parts, match):
    model = tiny_model().eval()
    with pytest.raises(ModalityError, match=match):
        model(parts)


def test_bad_stacked_input_names_the_modality():
    model = tiny_model().eval()
    inputs, labels = _batch()
    with pytest.raises(ModalityError, match=r'hsi 5 \+ lidar 2'):
        model(inputs[:, :6], mode='tensor')
    broken = inputs.clone()
    broken[0, 6, 0, 0] = float('nan')
    with pytest.raises(ModalityError, match="'lidar'"):
        model(broken, data_samples(labels), mode='predict')
    broken = inputs.clone()
    broken[1, 0, 3, 3] = float('inf')
    with pytest.raises(ModalityError, match="'hsi'"):
        model(broken, data_samples(labels), mode='loss')

