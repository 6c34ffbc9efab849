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
    """HSISceneDataset serves a scene from disk: the built-in demo scene,
    written once into a temporary folder removed at exit."""
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
