"""The built-in HSI demo scene as a scene class that generates itself.

``HSISceneDataset(scene=dict(type='HSIDemoScene', root=...))`` writes the
demo scene (:func:`m3plugins.demo.hsi_scene.make_demo_hsi_scene`) into
``root`` on first use and then reads it through the real Houston2013 reader
path, so ``python tools/train.py configs/spectralmamba/spectralmamba_demo.py``
needs no separate data step and downloads nothing.
"""
import os.path as osp

from m3plugins.datasets.hsi import HSI_SCENES, Houston2013

from .hsi_scene import DEMO_NUM_CLASSES, DEMO_SCENE_SHAPE, make_demo_hsi_scene

__all__ = ['HSIDemoScene', 'HSI_DEMO_ROOT']

#: Where the demo configs keep the scene (the same folder as
#: ``prepare_demo_data('houston2013')``).
HSI_DEMO_ROOT = osp.join('data', 'm3plugins_demo', 'houston2013')


@HSI_SCENES.register_module()
class HSIDemoScene(Houston2013):
    """The generated demo scene: 96 x 160, HSI 144 + LiDAR 1, 7 classes.

    Files and split as written by
    :func:`~m3plugins.demo.hsi_scene.make_demo_hsi_scene` in Houston2013's
    layout (``HSI.mat``, ``LiDAR.mat``, ``TRLabel.mat`` with 20 training
    pixels per class, ``TSLabel.mat`` with every other labeled pixel). The
    classes carry Houston2013's first seven names and colours.

    Args:
        root: Folder of the scene; generated there when missing or stale.
        demo_seed: Seed of the generator (the same seed, the same scene).
        **kwargs: Other :class:`~m3plugins.datasets.hsi.HSIScene` arguments
            (``split``, ``modalities``, ``normalization``, ...).
    """
    name = 'HSIDemoScene'
    classes = Houston2013.classes[:DEMO_NUM_CLASSES]
    palette = Houston2013.palette[:DEMO_NUM_CLASSES]
    scene_size = DEMO_SCENE_SHAPE
    source = ('generated on first use by m3plugins.demo.make_demo_hsi_scene '
              '(no download)')

    def __init__(self, root: str = HSI_DEMO_ROOT, demo_seed: int = 0,
                 **kwargs) -> None:
        self.demo_seed = demo_seed
        super().__init__(root=root, **kwargs)

    def _verify(self):
        make_demo_hsi_scene(self.root, self.demo_seed)
        return super()._verify()
