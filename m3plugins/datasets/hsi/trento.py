"""Trento: HSI + LiDAR, 6 classes, standard split."""
from .scene import HSI_SCENES, HSIScene


@HSI_SCENES.register_module()
class Trento(HSIScene):
    """Trento hyperspectral + LiDAR scene.

    Rural area south of Trento, Italy.

    * Sensors: AISA Eagle hyperspectral, 63 bands (402.89-989.09 nm); Optech
      ALTM 3100EA LiDAR DSM, 1 band; 1 m GSD.
    * Size: 166 x 600 pixels.
    * Modalities: ``hsi`` (63), ``lidar`` (1). Default ``('hsi', 'lidar')``.
    * Classes (labels 1..6): Apple trees, Buildings, Ground, Woods, Vineyard,
      Roads.
    * Standard split: 819 train (129, 125, 105, 154, 184, 122) / 29395 test
      (3905, 2778, 374, 8969, 10317, 3052) pixels; train + test is the full
      ground truth (30214 pixels).

    Download: the data is distributed by its authors (L. Bruzzone, Univ. of
    Trento) on request; the MATLAB files below circulate in public
    repositories. No ``download``, no md5.

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        HSI.mat     (key HSI,     166 x 600 x 63)
        LiDAR.mat   (key LiDAR,   166 x 600)
        TRLabel.mat (key TRLabel, 166 x 600 uint8)
        TSLabel.mat (key TSLabel, 166 x 600 uint8)

    Citation: B. Rasti, P. Ghamisi, R. Gloaguen, "Hyperspectral and LiDAR
    Fusion Using Extinction Profiles and Total Variation Component Analysis",
    IEEE TGRS 55(7), 3997-4007, 2017.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Trento'
    classes = ('Apple trees', 'Buildings', 'Ground', 'Woods', 'Vineyard',
               'Roads')
    palette = ((0, 205, 0), (255, 0, 0), (160, 82, 45), (0, 100, 0),
               (255, 255, 0), (128, 128, 128))
    modality_files = {
        'hsi': [('HSI.mat', ('HSI', None))],
        'lidar': [('LiDAR.mat', ('LiDAR', None))],
    }
    modality_bands = {'hsi': 63, 'lidar': 1}
    default_modalities = ('hsi', 'lidar')
    split_label_files = {
        'train': [('TRLabel.mat', ('TRLabel', None))],
        'test': [('TSLabel.mat', ('TSLabel', None))],
    }
    scene_size = (166, 600)
    source = ('the authors (L. Bruzzone, University of Trento) on request; '
              'the .mat files circulate in public repositories')
    rgb_bands = (40, 20, 10)
