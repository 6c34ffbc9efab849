"""Tile grid, blending weights and the row-band accumulator."""
import numpy as np
import pytest

from m3plugins.apis.tile_blending import (
    RowBandAccumulator,
    edge_ramp,
    tile_starts,
    tile_weights,
)


@pytest.mark.parametrize('length,tile,stride,expected', [
    (150, 64, 48, [0, 48, 86]),
    (64, 64, 48, [0]),
    (40, 64, 48, [0]),
    (112, 64, 48, [0, 48]),
])
def test_tile_starts_cover_the_axis_with_full_tiles(length, tile, stride,
                                                    expected):
    starts = tile_starts(length, tile, stride)
    assert starts == expected
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + tile] = True
    assert covered.all()
    assert starts[-1] + min(tile, length) == length


def test_tile_starts_rejects_bad_arguments():
    with pytest.raises(ValueError, match='stride'):
        tile_starts(100, 32, 0)


def test_edge_ramp_is_positive_and_neighbouring_ramps_sum_to_one():
    ramp = edge_ramp(16)
    assert ramp.shape == (16, )
    assert (ramp > 0).all() and (ramp < 1).all()
    assert np.all(np.diff(ramp) > 0)
    np.testing.assert_allclose(ramp + ramp[::-1], 1, atol=1e-6)


def test_tile_weights_ramp_only_on_interior_edges():
    # Top-left tile of a 150 x 170 scene: scene border at top and left.
    weights = tile_weights(0, 0, 64, 64, 150, 170, 16)
    assert weights.shape == (64, 64)
    assert weights[0, 0] == 1 and weights[:48, :48].min() == 1
    assert weights[-1, -1] < weights[-17, -17] == 1
    assert (weights > 0).all()
    # An interior tile falls off on all four sides, never to zero.
    inner = tile_weights(48, 48, 64, 64, 150, 170, (16, 8))
    assert inner[0, 32] < 1 and inner[-1, 32] < 1
    assert inner[32, 0] < 1 and inner[32, -1] < 1
    assert inner[32, 8] == 1 and inner[32, 7] < 1 and inner[16, 32] == 1
    assert inner.min() > 0


def test_weights_of_a_tiling_cover_every_pixel_with_unit_sum():
    height, width, tile, overlap = 150, 170, 64, 16
    total = np.zeros((height, width))
    for row in tile_starts(height, tile, tile - overlap):
        for col in tile_starts(width, tile, tile - overlap):
            total[row:row + tile, col:col + tile] += tile_weights(
                row, col, tile, tile, height, width, overlap)
    assert total.min() > 0.5
    # Regular overlaps (away from the shifted last tile) sum to exactly 1.
    np.testing.assert_allclose(total[:86, :106], 1, atol=1e-5)


def test_accumulator_blends_and_moves_down():
    acc = RowBandAccumulator(channels=2, rows=4, width=6)
    ones = np.ones((2, 4, 4), np.float32)
    acc.add(0, 0, ones * 1, np.full((4, 4), 1.0, np.float32))
    acc.add(0, 2, ones * 3, np.full((4, 4), 3.0, np.float32))
    top, logits = acc.flush(2)
    assert top == 0 and logits.shape == (2, 2, 6)
    np.testing.assert_allclose(logits[0, 0], [1, 1, 2.5, 2.5, 3, 3])
    # Rows 2..3 moved to the top of the band; the next tile row starts at 2.
    acc.add(2, 0, np.zeros((2, 4, 6), np.float32),
            np.ones((4, 6), np.float32))
    top, logits = acc.flush(6)
    assert top == 2 and logits.shape == (2, 4, 6)
    np.testing.assert_allclose(logits[0, 0], [0.5, 0.5, 2, 2, 2.25, 2.25])
    np.testing.assert_allclose(logits[0, 2:], 0)


def test_accumulator_rejects_tiles_outside_the_band_and_uncovered_pixels():
    acc = RowBandAccumulator(channels=1, rows=4, width=4)
    with pytest.raises(ValueError, match='outside'):
        acc.add(2, 0, np.ones((1, 4, 4), np.float32),
                np.ones((4, 4), np.float32))
    acc.add(0, 0, np.ones((1, 4, 2), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(RuntimeError, match='covered by no tile'):
        acc.flush(4)
