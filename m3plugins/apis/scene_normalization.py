"""Per-band statistics of a whole raster in bounded memory.

The package's datasets scale each modality with per-band statistics of the
whole raster they read (a hyperspectral scene, an ISPRS tile). Large-scene
inference must give every window the values the dataset gave the whole
raster, without holding it in memory: :func:`streaming_band_statistics` reads
the raster one block of rows at a time and merges the blocks' statistics with
:func:`m3plugins.datasets.normalization.merge_band_statistics`, so memory
stays bounded by one block. Non-finite values (and, on request, the raster's
declared nodata) are left out, as in :func:`m3plugins.datasets.normalization.
band_statistics`.

Which method each modality uses comes from the data contract
(:mod:`m3plugins.apis.inference_contract`).
"""
from m3plugins.datasets.normalization import (
    BandStatistics,
    band_statistics,
    merge_band_statistics,
)

__all__ = ['streaming_band_statistics', 'DEFAULT_BLOCK_BYTES']

#: Bytes of float64 statistics work space per streamed block (the peak is a
#: few times this: the read block, its float64 copy and reductions).
DEFAULT_BLOCK_BYTES = 16 * 2**20


def streaming_band_statistics(raster,
                              block_bytes: int = DEFAULT_BLOCK_BYTES,
                              nodata_as_nan: bool = False) -> BandStatistics:
    """Per-band statistics of a whole raster, read one block of rows at once.

    Args:
        raster: An object with ``height``, ``width``, ``count`` and
            ``read(row, col, height, width) -> (h, w, C) array`` (a
            :class:`m3plugins.io.modality_rasters.ModalityRaster`).
        block_bytes: Budget for one block's float64 copy; a block holds at
            least one row.
        nodata_as_nan: Leave the raster's declared nodata pixels out (they
            are read as NaN, which the statistics skip).

    Returns:
        BandStatistics: Equal (up to rounding of mean / std) to
        ``band_statistics`` of the whole raster; min and max are exact.
    """
    row_bytes = raster.width * raster.count * 8
    block_rows = max(1, int(block_bytes // max(row_bytes, 1)))
    parts = []
    for row in range(0, raster.height, block_rows):
        rows = min(block_rows, raster.height - row)
        parts.append(band_statistics(
            raster.read(row, 0, rows, raster.width, nodata_as_nan)))
    return merge_band_statistics(parts)
