"""Indian Pines (AVIRIS): HSI only, 16 classes, seeded per-class split."""
from .scene import HSI_SCENES, HSIScene

_EHU = 'https://www.ehu.eus/ccwintco/uploads/'


@HSI_SCENES.register_module()
class IndianPines(HSIScene):
    """Indian Pines hyperspectral scene (AVIRIS), north-western Indiana.

    * Sensor: AVIRIS, 200 bands after removing the water absorption bands
      (``Indian_pines_corrected``; the 220-band ``Indian_pines.mat`` is read
      with ``band_counts=dict(hsi=220)``), 400-2500 nm, 20 m GSD, June 1992.
    * Size: 145 x 145 pixels.
    * Modalities: ``hsi`` (200).
    * Classes (labels 1..16, 10249 labeled pixels): Alfalfa 46, Corn-notill
      1428, Corn-mintill 830, Corn 237, Grass-pasture 483, Grass-trees 730,
      Grass-pasture-mowed 28, Hay-windrowed 478, Oats 20, Soybean-notill 972,
      Soybean-mintill 2455, Soybean-clean 593, Wheat 205, Woods 1265,
      Buildings-Grass-Trees-Drives 386, Stone-Steel-Towers 93.
    * Split: none standard. By default ``train_per_class=0.1`` (10 % of each
      class, a common protocol) drawn with ``seed``, the rest for testing;
      or ``split_files=(train, test)``.

    Download: public, ``download=True`` fetches the corrected cube and the
    ground truth from
    https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes.
    md5 of ``Indian_pines_gt.mat`` is recorded (``checksum=True`` checks it).

    Accepted on-disk layout in ``root`` (MATLAB v5 or v7.3):

    .. code-block:: text

        Indian_pines_corrected.mat (key indian_pines_corrected)
          or Indian_pines.mat      (key indian_pines)
        Indian_pines_gt.mat        (key indian_pines_gt)

    The image is 145 x 145 x 200 (corrected) or 145 x 145 x 220 bands, the
    ground truth 145 x 145.

    Citation: M. F. Baumgardner, L. L. Biehl, D. A. Landgrebe, "220 Band
    AVIRIS Hyperspectral Image Data Set: June 12, 1992 Indian Pine Test Site
    3", Purdue University Research Repository, 2015, doi:10.4231/R7RX991C.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Indian Pines'
    classes = ('Alfalfa', 'Corn-notill', 'Corn-mintill', 'Corn',
               'Grass-pasture', 'Grass-trees', 'Grass-pasture-mowed',
               'Hay-windrowed', 'Oats', 'Soybean-notill', 'Soybean-mintill',
               'Soybean-clean', 'Wheat', 'Woods',
               'Buildings-Grass-Trees-Drives', 'Stone-Steel-Towers')
    palette = ((255, 254, 137), (3, 28, 241), (255, 89, 1), (5, 255, 133),
               (255, 2, 251), (89, 1, 255), (3, 171, 255), (12, 255, 7),
               (172, 175, 84), (160, 78, 158), (101, 173, 255), (60, 91, 112),
               (104, 192, 63), (139, 69, 46), (119, 255, 172), (254, 255, 3))
    modality_files = {
        'hsi': [('Indian_pines_corrected.mat',
                 ('indian_pines_corrected', None)),
                ('Indian_pines.mat', ('indian_pines', None))]
    }
    modality_bands = {'hsi': 200}
    gt_files = [('Indian_pines_gt.mat', ('indian_pines_gt', None))]
    default_train_per_class = 0.1
    scene_size = (145, 145)
    urls = {
        'Indian_pines_corrected.mat': _EHU + '6/67/Indian_pines_corrected.mat',
        'Indian_pines_gt.mat': _EHU + 'c/c4/Indian_pines_gt.mat',
    }
    md5s = {'Indian_pines_gt.mat': '9414943dac1d80faaa9165c8b460510c'}
    source = ('https://www.ehu.eus/ccwintco/index.php/'
              'Hyperspectral_Remote_Sensing_Scenes')
    rgb_bands = (43, 21, 11)
