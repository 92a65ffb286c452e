"""The shipped dataset bases load fast and feed the model the same data."""
import copy
import itertools
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from mmengine import Config
from mmengine.runner import Runner

from mmunix.registry import MODELS
from mmunix.utils import register_all_modules

BASES = {
    'cifar100': 'configs/_base_/datasets/cifar100_bs64.py',
    'digits': 'configs/_base_/datasets/digits_bs64.py',
    'imagenet': 'configs/imagenet/_base_/datasets/imagenet_bs32.py',
}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, BASES[name]))


@pytest.mark.parametrize('name', sorted(BASES))
def test_loaders_stack_pin_and_keep_their_workers(name):
    cfg = load(name)
    assert cfg.data_preprocessor.type == 'mmunix.DeviceClsDataPreprocessor'
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert loader.collate_fn == dict(type='default_collate')
        assert loader.pin_memory is True
        if name == 'digits':
            # In memory and tiny: loaded in the main process, see the file.
            assert loader.num_workers == 0
            assert 'persistent_workers' not in loader
        else:
            assert loader.persistent_workers is True
            assert loader.num_workers == (8 if name == 'imagenet' else 4)


def test_runtime_autotunes_cudnn_and_logs_losses_without_a_sync_each_iter():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/default_runtime.py'))
    assert cfg.env_cfg.cudnn_benchmark is True
    assert cfg.default_hooks.runtime_info == dict(
        type='DeferredRuntimeInfoHook')


def batches_reaching_the_model(cfg: Config, loader_options: dict,
                               preprocessor: dict, num_batches: int) -> list:
    """``(inputs, labels)`` after ``preprocessor`` in training mode, for the
    first batches of the train dataloader with ``loader_options``."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(loader_options)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    preprocessor = MODELS.build(preprocessor)
    np.random.seed(0)  # the transforms of a loader without workers
    batches = []
    for data in itertools.islice(loader, num_batches):
        data = preprocessor(data, training=True)
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        batches.append((data['inputs'], labels))
    return batches


@pytest.mark.parametrize('name,workers', [('cifar100', 2), ('digits', 0),
                                          ('imagenet', 2)])
def test_shipped_loaders_feed_the_same_inputs_and_labels_as_before(
        name, workers, cifar_root, imagenet_root):
    """Against MMEngine's per-sample ``pseudo_collate``, unpinned, into
    mmpretrain's ``ClsDataPreprocessor``: what the bases shipped before."""
    register_all_modules()
    cfg = load(name)
    data_root = dict(cifar100=cifar_root, imagenet=imagenet_root).get(name)
    if data_root is not None:
        cfg.train_dataloader.dataset.data_root = data_root
    if name == 'cifar100':
        cfg.train_dataloader.dataset.check_md5 = False
    if name == 'imagenet':  # a smaller crop of the tiny images
        cfg.train_dataloader.dataset.pipeline[1].scale = 32
    options = dict(
        batch_size=4, num_workers=workers, persistent_workers=workers > 0)
    shipped = batches_reaching_the_model(
        cfg, options, cfg.data_preprocessor, num_batches=2)
    before = batches_reaching_the_model(
        cfg,
        dict(
            options, collate_fn=dict(type='pseudo_collate'), pin_memory=False),
        dict(cfg.data_preprocessor, type='mmpretrain.ClsDataPreprocessor'),
        num_batches=2)

    assert len(shipped) == len(before) == 2
    for (inputs, labels), (inputs_before,
                           labels_before) in zip(shipped, before):
        assert inputs.dtype == torch.float32 and inputs.shape[0] == 4
        assert torch.equal(inputs, inputs_before)
        assert torch.equal(labels, labels_before)
