"""Houston2013 (2013 GRSS Data Fusion Contest): HSI + LiDAR, 15 classes."""
from .scene import HSI_SCENES, HSIScene


@HSI_SCENES.register_module()
class Houston2013(HSIScene):
    """Houston2013 hyperspectral + LiDAR scene (GRSS DFC 2013).

    University of Houston campus and surroundings, acquired in June 2012.

    * Sensors: ITRES CASI-1500 hyperspectral, 144 bands, 380-1050 nm; LiDAR
      digital surface model (1 raster), both at 2.5 m GSD, co-registered.
    * Size: 349 x 1905 pixels.
    * Modalities: ``hsi`` (144), ``lidar`` (1). Default ``('hsi', 'lidar')``.
    * Classes (labels 1..15): Healthy grass, Stressed grass, Synthetic grass,
      Trees, Soil, Water, Residential, Commercial, Road, Highway, Railway,
      Parking lot 1, Parking lot 2, Tennis court, Running track.
    * Standard split (the contest's): 2832 train / 12197 test pixels.
      Train per class 198, 190, 192, 188, 186, 182, 196, 191, 193, 191, 181,
      192, 184, 181, 187; test 1053, 1064, 505, 1056, 1056, 143, 1072, 1053,
      1059, 1036, 1054, 1041, 285, 247, 473.

    Download (registration required, no public URL, so no ``download``):
    https://hyperspectral.ee.uh.edu/?page_id=459 (2013 IEEE GRSS Data Fusion
    Contest). The same data circulates as MATLAB files in many public
    repositories.

    Accepted on-disk layouts in ``root`` (each item may use either form):

    .. code-block:: text

        HSI.mat     (key HSI,     349 x 1905 x 144)
          or 2013_IEEE_GRSS_DF_Contest_CASI.tif
        LiDAR.mat   (key LiDAR,   349 x 1905)
          or 2013_IEEE_GRSS_DF_Contest_LiDAR.tif
        TRLabel.mat (key TRLabel, 349 x 1905 uint8)
          or 2013_IEEE_GRSS_DF_Contest_Samples_TR.tif
        TSLabel.mat (key TSLabel, 349 x 1905 uint8)
          or 2013_IEEE_GRSS_DF_Contest_Samples_VA.tif

    ``.mat`` files may be MATLAB v5 or v7.3; a file holding a single variable
    is read whatever its key. No md5 is listed: the files circulate in
    several equivalent versions, so ``checksum`` checks nothing here.

    Citation: C. Debes et al., "Hyperspectral and LiDAR Data Fusion: Outcome
    of the 2013 GRSS Data Fusion Contest", IEEE JSTARS 7(6), 2405-2418, 2014,
    doi:10.1109/JSTARS.2014.2305441.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Houston2013'
    classes = ('Healthy grass', 'Stressed grass', 'Synthetic grass', 'Trees',
               'Soil', 'Water', 'Residential', 'Commercial', 'Road',
               'Highway', 'Railway', 'Parking lot 1', 'Parking lot 2',
               'Tennis court', 'Running track')
    palette = ((0, 205, 0), (127, 255, 0), (46, 139, 87), (0, 139, 0),
               (160, 82, 45), (0, 255, 255), (255, 255, 255), (216, 191, 216),
               (255, 0, 0), (139, 0, 0), (100, 100, 100), (255, 255, 0),
               (238, 154, 0), (85, 26, 139), (255, 127, 80))
    modality_files = {
        'hsi': [('HSI.mat', ('HSI', None)),
                ('2013_IEEE_GRSS_DF_Contest_CASI.tif', None)],
        'lidar': [('LiDAR.mat', ('LiDAR', None)),
                  ('2013_IEEE_GRSS_DF_Contest_LiDAR.tif', None)],
    }
    modality_bands = {'hsi': 144, 'lidar': 1}
    default_modalities = ('hsi', 'lidar')
    split_label_files = {
        'train': [('TRLabel.mat', ('TRLabel', None)),
                  ('2013_IEEE_GRSS_DF_Contest_Samples_TR.tif', None)],
        'test': [('TSLabel.mat', ('TSLabel', None)),
                 ('2013_IEEE_GRSS_DF_Contest_Samples_VA.tif', None)],
    }
    scene_size = (349, 1905)
    source = ('https://hyperspectral.ee.uh.edu/?page_id=459 (2013 IEEE GRSS '
              'Data Fusion Contest, registration required)')
    rgb_bands = (59, 39, 22)
