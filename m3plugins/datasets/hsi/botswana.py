"""Botswana (Hyperion): HSI only, 14 classes, seeded per-class split."""
from .scene import HSI_SCENES, HSIScene

_EHU = 'https://www.ehu.eus/ccwintco/uploads/'


@HSI_SCENES.register_module()
class Botswana(HSIScene):
    """Botswana hyperspectral scene (NASA EO-1 Hyperion), Okavango Delta.

    * Sensor: Hyperion, 145 bands kept of 242 (uncalibrated and water
      absorption bands removed), 400-2500 nm, 30 m GSD, May 2001.
    * Size: 1476 x 256 pixels.
    * Modalities: ``hsi`` (145).
    * Classes (labels 1..14, 3248 labeled pixels): Water 270, Hippo grass
      101, Floodplain grasses 1 251, Floodplain grasses 2 215, Reeds 269,
      Riparian 269, Firescar 259, Island interior 203, Acacia woodlands 314,
      Acacia shrublands 248, Acacia grasslands 305, Short mopane 181, Mixed
      mopane 268, Exposed soils 95.
    * Split: none standard. By default ``train_per_class=30`` pixels per class
      (our choice; the SpectralMamba paper's counts are not public) drawn
      with ``seed``, the rest for testing; or ``split_files=(train, test)``.

    Download: public, ``download=True`` fetches both files from the Grupo de
    Inteligencia Computacional (UPV/EHU) page
    https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes.
    No md5 is recorded (``checksum`` checks nothing here).

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        Botswana.mat    (key Botswana,    1476 x 256 x 145)
        Botswana_gt.mat (key Botswana_gt, 1476 x 256)

    Citation: J. Ham, Y. Chen, M. M. Crawford, J. Ghosh, "Investigation of
    the random forest framework for classification of hyperspectral data",
    IEEE TGRS 43(3), 492-501, 2005.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Botswana'
    classes = ('Water', 'Hippo grass', 'Floodplain grasses 1',
               'Floodplain grasses 2', 'Reeds', 'Riparian', 'Firescar',
               'Island interior', 'Acacia woodlands', 'Acacia shrublands',
               'Acacia grasslands', 'Short mopane', 'Mixed mopane',
               'Exposed soils')
    palette = ((0, 0, 255), (0, 139, 139), (127, 255, 0), (0, 205, 0),
               (46, 139, 87), (0, 100, 0), (139, 0, 0), (210, 180, 140),
               (160, 82, 45), (205, 133, 63), (255, 215, 0), (238, 154, 0),
               (216, 191, 216), (255, 0, 255))
    modality_files = {'hsi': [('Botswana.mat', ('Botswana', None))]}
    modality_bands = {'hsi': 145}
    gt_files = [('Botswana_gt.mat', ('Botswana_gt', None))]
    default_train_per_class = 30
    scene_size = (1476, 256)
    urls = {
        'Botswana.mat': _EHU + '7/72/Botswana.mat',
        'Botswana_gt.mat': _EHU + '5/58/Botswana_gt.mat',
    }
    source = ('https://www.ehu.eus/ccwintco/index.php/'
              'Hyperspectral_Remote_Sensing_Scenes')
    rgb_bands = (75, 33, 15)
