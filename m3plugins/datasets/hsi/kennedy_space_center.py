"""Kennedy Space Center (AVIRIS): HSI only, 13 classes, seeded split."""
from .scene import HSI_SCENES, HSIScene

_EHU = 'https://www.ehu.eus/ccwintco/uploads/'


@HSI_SCENES.register_module()
class KennedySpaceCenter(HSIScene):
    """Kennedy Space Center (KSC) hyperspectral scene (AVIRIS), Florida.

    * Sensor: AVIRIS, 224 bands recorded (400-2500 nm, 10 nm wide), 176 kept
      after removing the water absorption and low-SNR bands, 18 m GSD
      (flown at about 20 km), March 1996.
    * Size: 512 x 614 pixels.
    * Modalities: ``hsi`` (176).
    * Classes (labels 1..13, 5211 labeled pixels): Scrub 761, Willow swamp
      243, Cabbage palm hammock 256, Cabbage palm/oak hammock 252, Slash
      pine 161, Oak/broadleaf hammock 229, Hardwood swamp 105, Graminoid
      marsh 431, Spartina marsh 520, Cattail marsh 404, Salt marsh 419, Mud
      flats 503, Water 927.
    * Split: none standard. By default ``train_per_class=0.1`` (10 % of each
      class, a common protocol for this sparsely labelled scene) drawn with
      ``seed``, the rest for testing; or ``split_files=(train, test)``.

    Download: public, ``download=True`` fetches both files from
    https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes
    (MATLAB v5; v7.3 re-saves with key ``gt`` are read too). No md5 is
    recorded (``checksum`` checks nothing here): no public record of the
    EHU files' md5 could be verified.

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        KSC.mat    (key KSC,           512 x 614 x 176)
        KSC_gt.mat (key KSC_gt or gt,  512 x 614)

    Citation: J. Ham, Y. Chen, M. M. Crawford, J. Ghosh, "Investigation of
    the random forest framework for classification of hyperspectral data",
    IEEE TGRS 43(3), 492-501, 2005.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Kennedy Space Center'
    classes = ('Scrub', 'Willow swamp', 'Cabbage palm hammock',
               'Cabbage palm/oak hammock', 'Slash pine',
               'Oak/broadleaf hammock', 'Hardwood swamp', 'Graminoid marsh',
               'Spartina marsh', 'Cattail marsh', 'Salt marsh', 'Mud flats',
               'Water')
    palette = ((140, 67, 46), (0, 0, 255), (255, 100, 0), (0, 255, 123),
               (164, 75, 155), (101, 174, 255), (118, 254, 172),
               (60, 91, 112), (255, 255, 0), (255, 255, 125), (255, 0, 255),
               (100, 0, 255), (0, 172, 254))
    modality_files = {'hsi': [('KSC.mat', ('KSC', None))]}
    modality_bands = {'hsi': 176}
    gt_files = [('KSC_gt.mat', ('KSC_gt', 'gt', None))]
    default_train_per_class = 0.1
    scene_size = (512, 614)
    urls = {
        'KSC.mat': _EHU + '2/26/KSC.mat',
        'KSC_gt.mat': _EHU + 'a/a6/KSC_gt.mat',
    }
    source = ('https://www.ehu.eus/ccwintco/index.php/'
              'Hyperspectral_Remote_Sensing_Scenes')
    # About 640 / 550 / 460 nm (the visible bands precede every removed one).
    rgb_bands = (24, 15, 6)
