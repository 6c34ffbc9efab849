"""Tiny configs of each family and launchers for real multi-process runs.

The distributed tests train and test through the package's own command-line
tools, started the way users start them: ``torchrun`` (``--launcher
pytorch``) for several processes, plain ``python`` for one. Each run writes
what :mod:`ddp_probe_hook` records under ``<work_dir>/probe``.
"""
import copy
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys

import torch
from mmengine.config import Config
from repo_root import REPO_ROOT

REPO = REPO_ROOT
HERE = osp.dirname(osp.abspath(__file__))

#: A random-weight DINOv2-style ViT /14: 64 wide, 4 blocks.
TINY_VIT = dict(source='timm', name='vit_small_patch14_dinov2',
                pretrained=None,
                model_kwargs=dict(img_size=56, depth=4, embed_dim=64,
                                  num_heads=2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _shrink_mobanet(cfg: Config, data_root: str) -> None:
    cfg.model.backbone.foundation_model = copy.deepcopy(TINY_VIT)
    cfg.model.neck.in_channels = 64
    cfg.model.neck.out_channels = 32
    cfg.model.decode_head.in_channels = [32] * 4
    cfg.model.decode_head.channels = 16
    for head in cfg.model.auxiliary_head:
        head.in_channels = 32
        head.channels = 16
    cfg.model.data_preprocessor.size = (56, 56)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.pipeline[0].crop_size = (56, 56)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.data_root = osp.join(data_root, 'potsdam')


def _shrink_hsi(cfg: Config, data_root: str) -> None:
    root = osp.join(data_root, 'houston2013')
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.scene.root = root


#: family -> (config, how to shrink it)
FAMILIES = {
    'mobanet': ('configs/mobanet/mobanet_demo.py', _shrink_mobanet),
    'spectralmamba': ('configs/spectralmamba/spectralmamba_demo.py',
                      _shrink_hsi),
    'm3amba': ('configs/m3amba/m3amba_demo.py', _shrink_hsi),
}


def write_tiny_config(family: str, data_root: str, path: str,
                      max_iters: int = 4, checkpoint_interval: int = None,
                      val_interval: int = None) -> str:
    """A demo config of ``family`` shrunk to seconds, with the probe hook.

    Args:
        family: A key of :data:`FAMILIES`.
        data_root: Folder holding the generated demo data sets
            (``potsdam``, ``houston2013``).
        path: Where to write the config (``.py``).
        max_iters: Training iterations.
        checkpoint_interval: Defaults to ``max_iters``.
        val_interval: Defaults to ``max_iters``.

    Returns:
        str: ``path``.
    """
    config, shrink = FAMILIES[family]
    cfg = Config.fromfile(osp.join(REPO, config))
    shrink(cfg, data_root)
    cfg.custom_imports = dict(
        imports=['m3plugins', 'ddp_probe_hook'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='DDPProbeHook')]
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = val_interval or max_iters
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0,
             end=max_iters)]
    cfg.default_hooks.checkpoint.interval = checkpoint_interval or max_iters
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.default_hooks.checkpoint.save_best = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook')
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.log_level = 'WARNING'
    cfg.dump(path)
    return path


def run_env() -> dict:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE, REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env['OMP_NUM_THREADS'] = '1'
    env['OMP_WAIT_POLICY'] = 'PASSIVE'
    env['PORT'] = str(free_port())  # tools/dist_*.sh
    # tools/*.sh start this interpreter, not the first python on PATH.
    env['PYTHON'] = sys.executable
    return env


#: tool -> positional arguments before the process count of its
#: ``tools/dist_<tool>.sh`` (MMSeg's interface).
LEADING_ARGS = dict(train=1, test=2, infer=2)


def tool_command(tool: str, args, nproc: int = 1) -> list:
    """The command line that runs a tool on ``nproc`` processes.

    ``python tools/<tool>.py args``; ``bash tools/dist_<tool>.sh`` (which
    runs torchrun) when ``nproc > 1``.
    """
    if nproc == 1:
        return [sys.executable, osp.join(REPO, 'tools', f'{tool}.py'), *args]
    lead = LEADING_ARGS[tool]
    return ['bash', osp.join(REPO, 'tools', f'dist_{tool}.sh'),
            *args[:lead], str(nproc), *args[lead:]]


def start_tool(tool: str, args, cwd: str, nproc: int = 1,
               **env) -> subprocess.Popen:
    """Starts a tool in its own process group (to signal it as a whole).

    SIGINT gets its default action back in the tool: a shell starts
    background jobs with SIGINT ignored, and children inherit that, so a
    suite run in the background would otherwise never see the tool stop
    on Ctrl-C.
    """
    return subprocess.Popen(
        tool_command(tool, args, nproc), cwd=cwd,
        env={**run_env(), **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_tool(tool: str, args, cwd: str, nproc: int = 1,
             timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a tool to the end; fails the test with its output otherwise."""
    proc = subprocess.run(
        tool_command(tool, args, nproc), cwd=cwd, env=run_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return proc


def probe(work_dir: str, name: str, rank: int = 0):
    """What :class:`DDPProbeHook` wrote for ``rank``."""
    path = osp.join(work_dir, 'probe', f'{name}_rank{rank}')
    if name.endswith('metrics'):
        with open(path + '.json') as f:
            return json.load(f)
    return torch.load(path + '.pth', weights_only=True)


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, f'{len(differing)} tensors differ: {differing[:5]}'
