"""Raster input and output of the whole package, one concept per module.

* :mod:`.raster_reading`: whole reads of ``.mat`` / GeoTIFF / ``.npy`` /
  PNG files, header-only inspection (size, bands, dtype, georeference,
  truncation), GeoTIFF opening for windowed reads.
* :mod:`.modality_rasters`: one raster per modality, read window by window
  as one aligned stack (large-scene inference).
* :mod:`.georeference`: transform and CRS of a raster and the package's one
  co-registration check (:data:`ALIGNMENT_TOLERANCE_PIXELS`).
* :mod:`.file_discovery`: finding a dataset's files among accepted layouts
  and the one missing-data report (:class:`MissingDataError`).
* :mod:`.raster_writing`: any array as a GeoTIFF, written atomically.
* :mod:`.class_map_writing`: GeoTIFF class maps and probabilities, written
  atomically.
* :mod:`.preview_png`: PNG previews of class maps with a legend.
* :mod:`.label_values`: label maps hold integer class indices (NaN, Inf
  and fractions named, with the file).

Optional dependencies (rasterio, h5py, scipy, Pillow, matplotlib) are
imported when a function needs them.
"""
from .class_map_writing import (
    CLASS_MAP_NODATA,
    PROBABILITY_DTYPES,
    SceneMapWriter,
    save_class_map,
    write_class_map,
)
from .file_discovery import (
    MissingDataError,
    find_first_file,
    locate_files,
    missing_data_report,
)
from .georeference import (
    ALIGNMENT_TOLERANCE_PIXELS,
    Georeference,
    RasterAlignmentError,
    check_co_registration,
    read_georeference,
)
from .modality_rasters import (
    ModalityRaster,
    ModalityRasterStack,
    open_modality_rasters,
)
from .preview_png import (
    colourise_class_map,
    save_class_map_png,
    save_preview_png,
)
from .raster_reading import (
    RASTER_SUFFIXES,
    RasterHeader,
    RasterReadError,
    list_mat_keys,
    open_geotiff,
    read_raster,
    read_raster_header,
    read_raster_shape,
    split_mat_key,
)
from .raster_writing import write_geotiff

__all__ = [
    'ALIGNMENT_TOLERANCE_PIXELS', 'CLASS_MAP_NODATA', 'PROBABILITY_DTYPES',
    'RASTER_SUFFIXES', 'Georeference', 'MissingDataError', 'ModalityRaster',
    'ModalityRasterStack', 'RasterAlignmentError', 'RasterHeader',
    'RasterReadError', 'SceneMapWriter', 'check_co_registration',
    'colourise_class_map', 'find_first_file', 'list_mat_keys',
    'locate_files', 'missing_data_report', 'open_geotiff',
    'open_modality_rasters', 'read_georeference', 'read_raster',
    'read_raster_header', 'read_raster_shape', 'save_class_map',
    'save_class_map_png', 'save_preview_png', 'split_mat_key',
    'write_class_map', 'write_geotiff'
]
