"""MoBaNetSegmentor: losses, hard-pixel aux targets, alignment, layout."""
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mobanet_helpers import make_batch, tiny_model_cfg

import m3plugins  # noqa: F401
from m3plugins.models.mobanet import hard_pixel_targets
from m3plugins.utils.modalities import ModalityError


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    return model


def preprocess(model, batch, training):
    return model.data_preprocessor(batch, training)


def test_hard_pixel_targets():
    logits = torch.zeros(1, 3, 2, 3)
    logits[0, 0] = 1.0  # predicts class 0 everywhere
    labels = torch.tensor([[[0, 1, 2], [255, 0, 1]]])
    out = hard_pixel_targets(logits, labels, ignore_index=255)
    assert out.tolist() == [[[255, 1, 2], [255, 255, 1]]]
    out4 = hard_pixel_targets(logits, labels[:, None], ignore_index=255)
    assert out4.shape == (1, 1, 2, 3) and torch.equal(out4[:, 0], out)
    with pytest.raises(ValueError, match='spatial size'):
        hard_pixel_targets(logits, labels[..., :2])


def test_loss_keys_and_aux_weight(model):
    model.train()
    data = preprocess(model, make_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg',
                           'aux_0.loss_ce', 'aux_0.acc_seg',
                           'aux_1.loss_ce', 'aux_1.acc_seg'}
    for head in model.auxiliary_head:
        assert head.loss_decode.loss_weight == 0.01
    # The aux losses are 0.01 * CE: far below the main loss at init.
    assert 0 < losses['aux_0.loss_ce'] < 0.1 * losses['decode.loss_ce']


def test_aux_targets_keep_only_hard_pixels(model, monkeypatch):
    model.train()
    data = preprocess(model, make_batch(), True)
    labels = torch.stack([s.gt_sem_seg.data for s in data['data_samples']])
    seen = {}
    for i, head in enumerate(model.auxiliary_head):
        original = head.loss_by_feat

        def spy(logits, samples, original=original, i=i):
            seen[i] = torch.stack([s.gt_sem_seg.data for s in samples])
            return original(logits, samples)

        monkeypatch.setattr(head, 'loss_by_feat', spy)
    # A main head that is right on the left half of every image only.
    def main_head(feats):
        logits = torch.nn.functional.one_hot(
            labels[:, 0].long().clamp(max=5), 6).permute(
                0, 3, 1, 2).float() * 10
        logits[..., logits.shape[-1] // 2:] = logits[
            ..., logits.shape[-1] // 2:].roll(1, dims=1)
        return logits

    monkeypatch.setattr(model.decode_head, 'forward', main_head)
    monkeypatch.setattr(model, '_aligned_logits', lambda x, size: x)
    model(**data, mode='loss')
    half = labels.shape[-1] // 2
    for i in (0, 1):
        assert (seen[i][..., :half] == 255).all()
        assert torch.equal(seen[i][..., half:], labels[..., half:])


def test_aux_loss_is_zero_without_hard_pixels(model, monkeypatch):
    model.train()
    data = preprocess(model, make_batch(), True)
    labels = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']])
    perfect = torch.nn.functional.one_hot(
        labels.long().clamp(max=5), 6).permute(0, 3, 1, 2).float() * 10
    monkeypatch.setattr(model, '_aligned_logits',
                        lambda x, size: perfect if x.shape[1] == 6 and
                        x.shape[-1] != perfect.shape[-1] else x)
    monkeypatch.setattr(model.decode_head, 'forward', lambda feats: perfect)
    losses = model(**data, mode='loss')
    assert losses['aux_0.loss_ce'].item() == 0
    assert losses['aux_1.loss_ce'].item() == 0
    model.aux_hard_pixels_only = False
    try:
        losses = model(**data, mode='loss')
        assert losses['aux_0.loss_ce'].item() > 0
    finally:
        model.aux_hard_pixels_only = True


def test_logits_match_the_input_size(model):
    model.eval()
    data = preprocess(model, make_batch(size=(50, 60)), False)
    with torch.no_grad():
        logits = model(**data, mode='tensor')
        results = model(**data, mode='predict')
    assert logits.shape == (2, 6, 50, 60)
    assert results[0].pred_sem_seg.data.shape == (1, 50, 60)


def test_layout_comes_from_the_data_preprocessor():
    cfg = tiny_model_cfg()
    cfg.backbone.pop('modality_channels')
    cfg.data_preprocessor.modality_channels = [('rgb', 3), ('height', 1)]
    model = MODELS.build(cfg)
    assert list(model.modality_channels.items()) == [('rgb', 3),
                                                     ('height', 1)]
    assert list(model.backbone.modality_channels) == ['rgb', 'height']


def test_explicit_layouts_must_agree_with_the_preprocessor():
    cfg = tiny_model_cfg()  # the backbone repeats the same layout: fine
    assert list(MODELS.build(cfg).backbone.modality_channels) == [
        'optical', 'dsm']
    cfg.backbone.modality_channels = [('optical', 3), ('dsm', 2)]
    with pytest.raises(ValueError, match=r'backbone.modality_channels .*'
                       r'optical=3, dsm=1'):
        MODELS.build(cfg)
    # No layout in the data preprocessor, its one home: no default either.
    cfg = tiny_model_cfg()
    cfg.data_preprocessor = dict(type='SegDataPreProcessor')
    with pytest.raises(ValueError, match='MoBaNetSegmentor needs the '
                       'modality layout of its input'):
        MODELS.build(cfg)


def test_bad_input_names_the_modality(model):
    model.eval()
    with pytest.raises(ModalityError, match=r'optical 3 \+ dsm 1'):
        model(torch.rand(1, 5, 28, 28), mode='tensor')
    bad = torch.rand(1, 4, 28, 28)
    bad[0, 3, 1, 1] = float('nan')
    with pytest.raises(ModalityError, match="'dsm'"):
        model(bad, mode='tensor')


def test_modality_order_survives_the_config_dump(tmp_path):
    from m3plugins.utils.modalities import ordered_modality_channels
    cfg = Config(dict(model=tiny_model_cfg()))
    path = str(tmp_path / 'dumped.py')
    cfg.dump(path)  # mmengine sorts dict keys here
    model = MODELS.build(Config.fromfile(path).model)
    assert list(model.modality_channels) == ['optical', 'dsm']
    assert list(model.backbone.modality_channels) == ['optical', 'dsm']
    assert ordered_modality_channels(dict(a=1, b=2)) == \
        ordered_modality_channels([('a', 1), ('b', 2)])
    for bad, message in (([('a', 1), ('a', 2)], 'twice'),
                         ([('a', 0)], 'positive'), ([], 'empty'),
                         (['ab'], 'pairs')):
        with pytest.raises(ValueError, match=message):
            ordered_modality_channels(bad)


def test_slide_inference_covers_the_tile():
    model = MODELS.build(tiny_model_cfg(
        test_cfg=dict(mode='slide', crop_size=(28, 28), stride=(14, 14))))
    model.eval()
    data = preprocess(model, make_batch(1, size=(60, 70)), False)
    with torch.no_grad():
        result = model(**data, mode='predict')[0]
        whole = model.encode_decode(data['inputs'][:, :, :28, :28], None)
    assert result.seg_logits.data.shape == (6, 60, 70)
    # The top-left window is predicted by exactly one crop there.
    torch.testing.assert_close(result.seg_logits.data[:, :14, :14],
                               whole[0, :, :14, :14])
