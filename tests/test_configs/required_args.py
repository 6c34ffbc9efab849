"""Arguments for registered modules that cannot be built from defaults alone.

Keep every entry minimal: a module belongs here only if it genuinely needs
an input without a sensible default (a data root, a model to wrap). Values
are kwargs, or callables taking the build context (see ``build_context``).
"""
from contextlib import contextmanager

REQUIRED_ARGS = {}


@contextmanager
def build_context():
    """Temporary resources (generated data roots) shared by the builds."""
    yield {}


def _hsi_scene_dataset_args(context):
    """HSISceneDataset serves a scene from disk.

    The built-in demo scene, written once into a temporary folder removed at
    exit.
    """
    import atexit
    import shutil
    import tempfile

    from m3plugins.demo.hsi_scene import make_demo_hsi_scene
    if 'hsi_scene_root' not in context:
        root = tempfile.mkdtemp(prefix='m3plugins_hsi_scene_')
        atexit.register(shutil.rmtree, root, True)
        context['hsi_scene_root'] = make_demo_hsi_scene(root)
    return dict(scene=dict(type='Houston2013',
                           root=context['hsi_scene_root']))


REQUIRED_ARGS['HSISceneDataset'] = _hsi_scene_dataset_args


def _isprs_roots(context):
    """Small Potsdam and Vaihingen roots, written once into a temp folder.

    Potsdam: the package's demo tiles; Vaihingen: the fake areas of the
    ISPRS data tests (fake_data.isprs_tiles).
    """
    import atexit
    import os.path as osp
    import shutil
    import tempfile

    from fake_data.isprs_tiles import write_fake_vaihingen

    from m3plugins.demo.isprs_tiles import make_demo_isprs
    if 'isprs_root' not in context:
        root = tempfile.mkdtemp(prefix='m3plugins_isprs_')
        atexit.register(shutil.rmtree, root, True)
        make_demo_isprs(osp.join(root, 'potsdam'), tile_size=128)
        write_fake_vaihingen(osp.join(root, 'vaihingen'), areas=('1', ))
        context['isprs_root'] = root
    return context['isprs_root']


def _potsdam_args(context):
    import os.path as osp

    from m3plugins.demo.isprs_tiles import DEMO_TRAIN_TILES
    return dict(data_root=osp.join(_isprs_roots(context), 'potsdam'),
                tiles=list(DEMO_TRAIN_TILES))


def _potsdam_demo_args(context):
    return dict(_potsdam_args(context), demo_tile_size=128)


def _vaihingen_args(context):
    import os.path as osp
    return dict(data_root=osp.join(_isprs_roots(context), 'vaihingen'),
                tiles=['1'])


# The ISPRS datasets read tiles from a data root, which has no default.
REQUIRED_ARGS['ISPRSPotsdamDataset'] = _potsdam_args
REQUIRED_ARGS['ISPRSPotsdamDemoDataset'] = _potsdam_demo_args
REQUIRED_ARGS['ISPRSVaihingenDataset'] = _vaihingen_args

# The multimodal data preprocessor declares a model's modality layout,
# which has no default.
REQUIRED_ARGS['MultimodalSegDataPreProcessor'] = dict(
    modality_channels=[('optical', 3), ('dsm', 1)])

# The multimodal segmentors build their parts from the layout their data
# preprocessor declares (its one home), which has no default.
REQUIRED_ARGS['M3amba'] = dict(data_preprocessor=dict(
    type='MultimodalSegDataPreProcessor',
    modality_channels=[('hsi', 144), ('lidar', 1)]))
REQUIRED_ARGS['MoBaNetSegmentor'] = dict(data_preprocessor=dict(
    type='MultimodalSegDataPreProcessor',
    modality_channels=[('optical', 3), ('dsm', 1)]))

# A segmentor wraps a backbone and a head, which have no default; the
# smallest SpectralMamba model (the backbone must take output_mask).
REQUIRED_ARGS['SparseLabelEncoderDecoder'] = dict(
    backbone=dict(type='SpectralMamba', modality_channels=[('hsi', 12)],
                  embed_dims=8, num_pieces=3, depth=1),
    decode_head=dict(type='FCNHead', in_channels=8, channels=8, num_convs=0,
                     kernel_size=1, concat_input=False, num_classes=3))


def _isprs_clip_args(context):
    """One 8 x 8 clip in MMSeg's img_dir / ann_dir layout plus dsm_dir.

    Written once, for the clip datasets.
    """
    import atexit
    import os
    import os.path as osp
    import shutil
    import tempfile

    import numpy as np
    from PIL import Image

    from m3plugins.io import write_geotiff
    if 'isprs_clip_root' not in context:
        root = tempfile.mkdtemp(prefix='m3plugins_isprs_clips_')
        atexit.register(shutil.rmtree, root, True)
        name = '2_10_0_0_8_8'
        for folder in ('img_dir', 'ann_dir', 'dsm_dir'):
            os.makedirs(osp.join(root, folder, 'train'))
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
            osp.join(root, 'img_dir', 'train', name + '.png'))
        Image.fromarray(np.ones((8, 8), np.uint8)).save(
            osp.join(root, 'ann_dir', 'train', name + '.png'))
        write_geotiff(osp.join(root, 'dsm_dir', 'train', name + '.tif'),
                      np.zeros((8, 8), np.float32))
        context['isprs_clip_root'] = root
    return dict(data_root=context['isprs_clip_root'])


REQUIRED_ARGS['ISPRSPotsdamClipsDataset'] = _isprs_clip_args
REQUIRED_ARGS['ISPRSVaihingenClipsDataset'] = _isprs_clip_args
# An auxiliary head has no default width (BaseDecodeHead's rule).
REQUIRED_ARGS['MoBaNetAuxHead'] = dict(in_channels=8, channels=8,
                                       num_classes=3)
