"""A test-only hook that records what each rank of a run ended with.

Imported by the runs the distributed tests launch (``custom_imports``, with
this folder on ``PYTHONPATH``). Per rank it writes, under
``<work_dir>/probe/``:

* ``weights_rank{r}.pth``: the model's state_dict after training;
* ``{mode}_metrics_rank{r}.json``: the metrics of each validation or test;
* ``{mode}_predictions_rank{r}.pth``: every prediction the rank made, keyed
  by the sample's image path and window.

With ``M3PLUGINS_TEST_PAUSE_AT_ITER=k`` in the environment, the run pauses
(for a minute, writing ``probe/paused_rank{r}``) right before training
iteration k + 1, after the checkpoint of iteration k is written: the tests
kill it there.
"""
import json
import os
import os.path as osp
import time

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DDPProbeHook(Hook):
    """Writes each rank's final weights, metrics and predictions."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.predictions = {}

    def _path(self, runner, name):
        folder = osp.join(runner.work_dir, 'probe')
        os.makedirs(folder, exist_ok=True)
        return osp.join(folder, f'{name}_rank{get_rank()}')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        pause_at = os.environ.get('M3PLUGINS_TEST_PAUSE_AT_ITER')
        if pause_at is not None and runner.iter == int(pause_at):
            open(self._path(runner, 'paused'), 'w').close()
            time.sleep(60)

    def after_train(self, runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state, self._path(runner, 'weights') + '.pth')

    def _record(self, outputs):
        for sample in outputs:
            key = f'{sample.img_path}|{sample.metainfo.get("window")}'
            self.predictions[key] = sample.pred_sem_seg.data.clone()

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        self._record(outputs)

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        self._record(outputs)

    def _dump(self, runner, mode, metrics):
        with open(self._path(runner, f'{mode}_metrics') + '.json', 'w') as f:
            json.dump(metrics, f, sort_keys=True, default=float)
        torch.save(self.predictions,
                   self._path(runner, f'{mode}_predictions') + '.pth')
        self.predictions = {}

    def after_val_epoch(self, runner, metrics=None):
        self._dump(runner, 'val', metrics)

    def after_test_epoch(self, runner, metrics=None):
        self._dump(runner, 'test', metrics)
