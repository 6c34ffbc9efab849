"""Fake data in the real on-disk formats: one generator per dataset family.

* :mod:`.hsi_scene_files`: HSI scene files (MATLAB v5 / v7.3, GeoTIFF).
* :mod:`.isprs_tiles`: ISPRS Potsdam / Vaihingen tiles in the ISPRS
  layouts, and georeferenced optical + DSM scenes for inference.

Every GeoTIFF is written by :func:`m3plugins.io.write_geotiff`.
"""
