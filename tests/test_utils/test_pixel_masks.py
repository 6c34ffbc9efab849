"""dilate_pixel_mask: outputs -> the input pixels they read."""
import torch

from m3plugins.utils.pixel_masks import dilate_pixel_mask


def test_dilate_pixel_mask_grows_squares_and_pads():
    mask = torch.zeros(1, 5, 6, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 3, 4] = True
    grown = dilate_pixel_mask(mask, 1)
    assert grown.shape == mask.shape and int(grown.sum()) == 4 + 9
    assert grown[0, 2:5, 3:6].all() and not grown[0, 0, 2]
    padded = dilate_pixel_mask(mask, 1, pad=1)          # (7, 8) grid
    assert padded.shape == (1, 7, 8) and int(padded.sum()) == 9 + 9
    assert torch.equal(dilate_pixel_mask(mask, 0), mask)
