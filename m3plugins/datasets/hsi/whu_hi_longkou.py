"""WHU-Hi-LongKou (UAV hyperspectral): HSI only, 9 classes, seeded split."""
from .scene import HSI_SCENES, HSIScene


@HSI_SCENES.register_module()
class WHUHiLongKou(HSIScene):
    """WHU-Hi-LongKou hyperspectral scene, Longkou town, Hubei, China.

    * Sensor: Headwall Nano-Hyperspec on a UAV, 270 bands, 400-1000 nm,
      about 0.463 m GSD, July 2018.
    * Size: 550 x 400 pixels.
    * Modalities: ``hsi`` (270).
    * Classes (labels 1..9, 204542 labeled pixels): Corn 34511, Cotton 8374,
      Sesame 3031, Broad-leaf soybean 63212, Narrow-leaf soybean 4151, Rice
      11854, Water 67056, Roads and houses 7124, Mixed weed 5229.
    * Split: none standard. By default ``train_per_class=100`` pixels per
      class (our choice, one of the WHU-Hi paper's settings) drawn with
      ``seed``, the rest for testing; or ``split_files=(train, test)``.

    Download: http://rsidea.whu.edu.cn/resource_WHUHi_sharing.htm (links to
    cloud drives; no plain URL, so no ``download``; no md5).

    Accepted on-disk layout in ``root`` (MATLAB v5 or v7.3):

    .. code-block:: text

        WHU_Hi_LongKou.mat    (key WHU_Hi_LongKou,    550 x 400 x 270)
        WHU_Hi_LongKou_gt.mat (key WHU_Hi_LongKou_gt, 550 x 400)

    Citation: Y. Zhong, X. Hu, C. Luo, X. Wang, J. Zhao, L. Zhang, "WHU-Hi:
    UAV-borne hyperspectral with high spatial resolution (H2) benchmark
    datasets and classifier for precise crop identification based on deep
    convolutional neural network with CRF", Remote Sens. Environ. 250,
    112012, 2020.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'WHU-Hi-LongKou'
    classes = ('Corn', 'Cotton', 'Sesame', 'Broad-leaf soybean',
               'Narrow-leaf soybean', 'Rice', 'Water', 'Roads and houses',
               'Mixed weed')
    palette = ((255, 0, 0), (238, 154, 0), (255, 255, 0), (0, 255, 0),
               (0, 255, 255), (0, 139, 139), (0, 0, 255), (255, 255, 255),
               (160, 32, 240))
    modality_files = {
        'hsi': [('WHU_Hi_LongKou.mat', ('WHU_Hi_LongKou', None))]
    }
    modality_bands = {'hsi': 270}
    gt_files = [('WHU_Hi_LongKou_gt.mat', ('WHU_Hi_LongKou_gt', None))]
    default_train_per_class = 100
    scene_size = (550, 400)
    source = 'http://rsidea.whu.edu.cn/resource_WHUHi_sharing.htm'
    rgb_bands = (119, 69, 29)
