"""Pavia University (ROSIS): HSI only, 9 classes, seeded per-class split."""
from .scene import HSI_SCENES, HSIScene

_EHU = 'https://www.ehu.eus/ccwintco/uploads/'


@HSI_SCENES.register_module()
class PaviaUniversity(HSIScene):
    """Pavia University hyperspectral scene (ROSIS), Pavia, Italy.

    * Sensor: ROSIS, 103 bands (430-860 nm), 1.3 m GSD.
    * Size: 610 x 340 pixels.
    * Modalities: ``hsi`` (103).
    * Classes (labels 1..9, 42776 labeled pixels): Asphalt 6631, Meadows
      18649, Gravel 2099, Trees 3064, Painted metal sheets 1345, Bare soil
      5029, Bitumen 1330, Self-blocking bricks 3682, Shadows 947.
    * Split: none standard. By default ``train_per_class=0.01`` (1 % of each
      class, a common protocol) drawn with ``seed``, the rest for testing;
      or ``split_files=(train, test)``.

    Download: public, ``download=True`` fetches both files from
    https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes
    (MATLAB v5; v7.3 re-saves with key ``gt`` are read too). No md5 is
    recorded (``checksum`` checks nothing here).

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        PaviaU.mat    (key paviaU,    610 x 340 x 103)
        PaviaU_gt.mat (key paviaU_gt or gt, 610 x 340)

    Citation: P. Gamba, "A collection of data for urban area
    characterization", Proc. IGARSS 2004, vol. 1, 69-72.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Pavia University'
    classes = ('Asphalt', 'Meadows', 'Gravel', 'Trees',
               'Painted metal sheets', 'Bare soil', 'Bitumen',
               'Self-blocking bricks', 'Shadows')
    palette = ((192, 192, 192), (0, 255, 0), (0, 255, 255), (0, 128, 0),
               (255, 0, 255), (165, 82, 41), (128, 0, 128), (255, 0, 0),
               (255, 255, 0))
    modality_files = {'hsi': [('PaviaU.mat', ('paviaU', None))]}
    modality_bands = {'hsi': 103}
    gt_files = [('PaviaU_gt.mat', ('paviaU_gt', 'gt', None))]
    default_train_per_class = 0.01
    scene_size = (610, 340)
    urls = {
        'PaviaU.mat': _EHU + 'e/ee/PaviaU.mat',
        'PaviaU_gt.mat': _EHU + '5/50/PaviaU_gt.mat',
    }
    source = ('https://www.ehu.eus/ccwintco/index.php/'
              'Hyperspectral_Remote_Sensing_Scenes')
    rgb_bands = (55, 41, 12)
