"""MUUFL Gulfport: HSI + 2 LiDAR rasters, 11 classes, seeded class split."""
from .scene import HSI_SCENES, HSIScene


@HSI_SCENES.register_module()
class MUUFL(HSIScene):
    """MUUFL Gulfport hyperspectral + LiDAR scene.

    University of Southern Mississippi Gulf Park campus, November 2010.

    * Sensors: ITRES CASI-1500 hyperspectral, 64 bands (375-1050 nm; the
      first and last four of 72 bands removed as noisy); Optech Gemini LiDAR,
      two rasters (first and last return elevation), 1 m GSD (0.54 x 1 m).
    * Size: 325 x 220 pixels (the usual crop of the 325 x 337 campus image).
    * Modalities: ``hsi`` (64), ``lidar`` (2). Default ``('hsi', 'lidar')``.
    * Classes (labels 1..11, 53687 labeled pixels): Trees 23246, Mostly grass
      4270, Mixed ground surface 6882, Dirt and sand 1826, Road 6687, Water
      466, Building shadow 2233, Building 6240, Sidewalk 1385, Yellow curb
      183, Cloth panels 269. Unlabeled pixels are -1 in the original release;
      negative labels are read as 0 (unlabeled).
    * Split: there is no standard one. By default ``train_per_class=20``
      pixels per class are drawn with ``seed`` (our choice, a common one;
      see :func:`~m3plugins.datasets.hsi.sampling.sample_per_class`) and all
      other labeled pixels are the test set. Pass ``split_files=(train,
      test)`` to use fixed maps instead.

    Download: https://github.com/GatorSense/MUUFLGulfport (the original
    MATLAB struct release). The processed single-variable files below
    circulate in many public repositories; no ``download`` (the processed
    files have no canonical URL) and no md5.

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        HSI.mat   (key HSI,   325 x 220 x 64)
        LiDAR.mat (key LiDAR, 325 x 220 x 2)
        gt.mat    (key gt,    325 x 220, 0 or -1 = unlabeled, 1..11)

    Citations: P. Gader, A. Zare, R. Close, J. Aitken, G. Tuell, "MUUFL
    Gulfport Hyperspectral and LiDAR Airborne Data Set", Univ. Florida,
    Tech. Rep. REP-2013-570, 2013; X. Du, A. Zare, "Scene Label Ground Truth
    Map for MUUFL Gulfport Data Set", Univ. Florida, Tech. Rep. 20170417,
    2017.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'MUUFL Gulfport'
    classes = ('Trees', 'Mostly grass', 'Mixed ground surface',
               'Dirt and sand', 'Road', 'Water', 'Building shadow',
               'Building', 'Sidewalk', 'Yellow curb', 'Cloth panels')
    palette = ((0, 128, 0), (0, 255, 0), (0, 255, 255), (255, 204, 0),
               (255, 0, 0), (0, 0, 255), (102, 0, 204), (255, 127, 80),
               (204, 102, 0), (255, 255, 0), (255, 0, 255))
    modality_files = {
        'hsi': [('HSI.mat', ('HSI', 'hsi', None))],
        'lidar': [('LiDAR.mat', ('LiDAR', 'lidar', None))],
    }
    modality_bands = {'hsi': 64, 'lidar': 2}
    default_modalities = ('hsi', 'lidar')
    gt_files = [('gt.mat', ('gt', None))]
    default_train_per_class = 20
    scene_size = (325, 220)
    source = ('https://github.com/GatorSense/MUUFLGulfport (convert to the '
              'single-variable .mat files listed below)')
    rgb_bands = (29, 19, 9)
