"""HardSampleHook counts hard samples per epoch; the plot tool draws them."""
import importlib.util
import os.path as osp
import types

import numpy as np
import pytest
import torch
from conftest import (PYTHON, REPO_ROOT, assert_ok, free_port, run_tool,
                      tiny_run_options)
from mmengine import Config
from mmengine.dataset import ConcatDataset
from mmengine.runner import IterBasedTrainLoop, Runner
from mmpretrain.structures import DataSample

from mmunix.engine.hooks.hard_sample_hook import HardSampleHook
from mmunix.registry import HOOKS
from mmunix.utils import register_all_modules

PLOT_TOOL = osp.join(REPO_ROOT, 'tools/analysis_tools/plot_hard_samples.py')

# --------------------------------------------------------------------------
# The hook on its own, with a stand-in runner.


class _Loader:
    """A train dataloader: its dataset and its number of batches."""

    def __init__(self, dataset_size: int, iters_per_epoch: int):
        self.dataset = range(dataset_size)
        self.iters_per_epoch = iters_per_epoch

    def __len__(self):
        return self.iters_per_epoch


class StubRunner:
    """The few runner attributes HardSampleHook reads, and a logger that
    records what it is told."""

    def __init__(self,
                 work_dir,
                 dataset_size: int = 10,
                 iters_per_epoch: int = 2):
        self.model = types.SimpleNamespace(hard_positions=None)
        self.work_dir = str(work_dir)
        self.epoch = 0
        self.train_loop = object()
        self.train_dataloader = _Loader(dataset_size, iters_per_epoch)
        self.infos, self.warnings = [], []
        self.logger = types.SimpleNamespace(
            info=self.infos.append, warning=self.warnings.append)


def feed(hook, runner, sample_idx, positions):
    """One training iteration: a batch with these ``sample_idx`` of which the
    distiller reports ``positions`` as hard."""
    runner.model.hard_positions = torch.tensor(positions)
    data_batch = dict(data_samples=[
        DataSample(metainfo=dict(sample_idx=i)) for i in sample_idx
    ])
    hook.after_train_iter(runner, 0, data_batch=data_batch)


def test_hook_is_registered_in_mmunix_hooks():
    assert HOOKS.get('HardSampleHook') is HardSampleHook
    hook = HOOKS.build(dict(type='HardSampleHook', out_dir='somewhere'))
    assert hook.out_dir == 'somewhere'


def test_hard_positions_map_to_sample_idx_exactly(tmp_path):
    runner = StubRunner(tmp_path, dataset_size=10, iters_per_epoch=2)
    hook = HardSampleHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    # Positions index the batch; the counts index the dataset.
    feed(hook, runner, sample_idx=[7, 3, 9, 0], positions=[2, 0])
    feed(hook, runner, sample_idx=[7, 5, 8, 1], positions=[0, 3, 2])
    hook.after_train_epoch(runner)

    counts = np.load(tmp_path / 'hard_samples' / 'epoch_1.npy')
    expected = np.zeros(10, dtype=np.int64)
    expected[[1, 7, 8, 9]] = [1, 2, 1, 1]
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, expected)
    assert runner.infos == [
        'HardSampleHook: epoch 1: 5 hard selections of 4 distinct samples '
        '(of 10), max frequency 2; wrote '
        f'{tmp_path / "hard_samples" / "epoch_1.npy"}'
    ]


def test_counts_restart_every_epoch_in_out_dir(tmp_path):
    runner = StubRunner(tmp_path, dataset_size=4, iters_per_epoch=1)
    hook = HardSampleHook(out_dir=str(tmp_path / 'mine'))
    hook.before_train(runner)
    for epoch, sample_idx in enumerate(([0, 1], [2, 3])):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        feed(hook, runner, sample_idx=sample_idx, positions=[1])
        hook.after_train_epoch(runner)
    np.testing.assert_array_equal(
        np.load(tmp_path / 'mine' / 'epoch_1.npy'), [0, 1, 0, 0])
    np.testing.assert_array_equal(
        np.load(tmp_path / 'mine' / 'epoch_2.npy'), [0, 0, 0, 1])


def test_a_partly_counted_epoch_is_not_written(tmp_path):
    # As after a resume by a loop that skips the batches already trained.
    runner = StubRunner(tmp_path, dataset_size=8, iters_per_epoch=3)
    hook = HardSampleHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    feed(hook, runner, sample_idx=[0, 1], positions=[0])
    feed(hook, runner, sample_idx=[2, 3], positions=[0])
    hook.after_train_epoch(runner)
    assert not (tmp_path / 'hard_samples').exists()
    assert len(runner.warnings) == 1
    assert 'ran 2 of its 3 iterations' in runner.warnings[0]
    assert 'half-counted epoch_1.npy' in runner.warnings[0]


def test_kd_warns_once_and_counts_nothing(tmp_path):
    runner = StubRunner(tmp_path)
    hook = HardSampleHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    for _ in range(2):  # hard_positions stays None under KD
        hook.after_train_iter(
            runner, 0, data_batch=dict(data_samples=[DataSample()]))
    hook.after_train_epoch(runner)
    assert len(runner.warnings) == 1
    assert 'conventional KD' in runner.warnings[0]
    assert not (tmp_path / 'hard_samples').exists()


def test_missing_sample_idx_names_the_pipeline_key(tmp_path):
    runner = StubRunner(tmp_path)
    hook = HardSampleHook()
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    runner.model.hard_positions = torch.tensor([0])
    with pytest.raises(KeyError, match='meta_keys of the PackInputs'):
        hook.after_train_iter(
            runner, 0, data_batch=dict(data_samples=[DataSample()]))


def test_models_without_hard_positions_are_refused(tmp_path):
    runner = StubRunner(tmp_path)
    runner.model = torch.nn.Linear(1, 1)
    with pytest.raises(TypeError, match='remove the hook from custom_hooks'):
        HardSampleHook().before_train(runner)


def test_iteration_based_training_is_refused(tmp_path):
    runner = StubRunner(tmp_path)
    runner.train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    with pytest.raises(ValueError, match='train_cfg.by_epoch=True'):
        HardSampleHook().before_train(runner)


def test_concatenated_datasets_are_refused(tmp_path):
    runner = StubRunner(tmp_path)
    runner.train_dataloader.dataset = ConcatDataset.__new__(ConcatDataset)
    with pytest.raises(ValueError, match='ConcatDataset'):
        HardSampleHook().before_train(runner)


def test_sample_idx_is_the_dataset_index_under_a_shuffling_sampler(cifar_root):
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/unix_r56_r20_cifar100.py'))
    loader_cfg = cfg.train_dataloader
    assert loader_cfg.sampler == dict(type='DefaultSampler', shuffle=True)
    loader_cfg.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader_cfg.dataset.update(data_root=cifar_root, check_md5=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    drawn = [(sample.sample_idx, int(sample.gt_label)) for batch in loader
             for sample in batch['data_samples']]
    # The tiny data labels image i with class i % 100: label == index here.
    assert all(index == label for index, label in drawn)
    order = [index for index, _ in drawn]
    assert sorted(order) == list(range(16))
    assert order != list(range(16))


# --------------------------------------------------------------------------
# Real training runs of tools/train.py.


def config_with_hook(folder, config: str) -> str:
    """``config`` plus the HardSampleHook (a list of dicts, which the command
    line cannot express)."""
    path = osp.join(str(folder), 'with_hard_sample_hook.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{osp.join(REPO_ROOT, config)!r}]\n'
                'custom_imports = dict(imports=['
                "'mmunix.engine.hooks.hard_sample_hook'])\n"
                "custom_hooks = [dict(type='HardSampleHook')]\n")
    return path


def train_args(config, work_dir, cifar_root, teacher_ckpt, max_epochs,
               *extra_options):
    return [
        'tools/train.py', config, '--work-dir',
        str(work_dir), '--cfg-options', *tiny_run_options(cifar_root),
        f'model.teacher_ckpt={teacher_ckpt}',
        f'train_cfg.max_epochs={max_epochs}', *extra_options
    ]


def hard_sample_lines(log: str) -> list:
    return [line for line in log.splitlines() if 'HardSampleHook:' in line]


@pytest.fixture(scope='module')
def unix_run(tmp_path_factory, cifar_root, teacher_ckpt):
    """Two UNIX epochs of 16 images in batches of 4, with a checkpoint every 2
    iterations (iter_6.pth is in the middle of epoch 2)."""
    work_dir = tmp_path_factory.mktemp('unix_run')
    config = config_with_hook(work_dir, 'configs/unix_r56_r20_cifar100.py')
    result = run_tool([
        PYTHON, *train_args(config, work_dir, cifar_root, teacher_ckpt, 2,
                            'default_hooks.checkpoint.by_epoch=False',
                            'default_hooks.checkpoint.interval=2')
    ])
    assert_ok(result)
    return work_dir, config, result.stdout + result.stderr


def check_epoch_file(path):
    """One epoch of 16 images: 4 iterations that each pick b=2 (0.5 of 4)
    clean, most uncertain samples, and every image is drawn once."""
    counts = np.load(path)
    assert counts.dtype == np.int64
    assert counts.shape == (16, )
    assert counts.sum() == 4 * 2
    assert set(np.unique(counts)) <= {0, 1}


@pytest.mark.slow
def test_unix_training_saves_the_counts_of_every_epoch(unix_run):
    work_dir, _, log = unix_run
    for epoch in (1, 2):
        check_epoch_file(work_dir / 'hard_samples' / f'epoch_{epoch}.npy')
    lines = hard_sample_lines(log)
    assert len(lines) == 2
    assert 'epoch 1: 8 hard selections of 8 distinct samples (of 16), ' \
        'max frequency 1' in lines[0]


@pytest.mark.slow
def test_resume_mid_epoch_counts_that_epoch_in_full(unix_run, tmp_path,
                                                    cifar_root, teacher_ckpt):
    work_dir, config, _ = unix_run
    result = run_tool([
        PYTHON, *train_args(config, tmp_path, cifar_root, teacher_ckpt, 2),
        '--resume',
        str(work_dir / 'iter_6.pth')
    ])
    assert_ok(result)
    # MMEngine's EpochBasedTrainLoop re-runs epoch 2 from its first batch.
    assert not (tmp_path / 'hard_samples' / 'epoch_1.npy').exists()
    check_epoch_file(tmp_path / 'hard_samples' / 'epoch_2.npy')


@pytest.mark.slow
def test_kd_training_warns_once_and_writes_nothing(tmp_path, cifar_root,
                                                   teacher_ckpt):
    config = config_with_hook(tmp_path, 'configs/kd_r56_r20_cifar100.py')
    result = run_tool(
        [PYTHON, *train_args(config, tmp_path, cifar_root, teacher_ckpt, 1)])
    assert_ok(result)
    lines = hard_sample_lines(result.stdout + result.stderr)
    assert len(lines) == 1
    assert 'conventional KD' in lines[0]
    assert not (tmp_path / 'hard_samples').exists()


@pytest.mark.slow
def test_counts_are_summed_over_ddp_processes(tmp_path, cifar_root,
                                              teacher_ckpt):
    config = config_with_hook(tmp_path, 'configs/unix_r56_r20_cifar100.py')
    result = run_tool([
        'bash', 'tools/dist_train.sh', config, '2',
        *train_args(config, tmp_path, cifar_root, teacher_ckpt, 1)[2:]
    ],
                      env_extra={'PORT': str(free_port())})
    assert_ok(result)
    # Each process trains 2 batches of 4 and picks 2 of each: a process
    # alone would count 4.
    check_epoch_file(tmp_path / 'hard_samples' / 'epoch_1.npy')
    assert len(hard_sample_lines(result.stdout + result.stderr)) == 1


# --------------------------------------------------------------------------
# tools/analysis_tools/plot_hard_samples.py


@pytest.fixture(scope='module')
def plot_tool():
    spec = importlib.util.spec_from_file_location('plot_hard_samples',
                                                  PLOT_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plot_tool_loads_epochs_in_numeric_order(plot_tool, tmp_path):
    for epoch in (10, 2, 1):
        np.save(tmp_path / f'epoch_{epoch}.npy',
                np.full(3, epoch, dtype=np.int64))
    np.save(tmp_path / 'epoch_3_backup.npy', np.zeros(3, dtype=np.int64))
    epochs, counts = plot_tool.load_counts(str(tmp_path))
    assert epochs == [1, 2, 10]
    np.testing.assert_array_equal(counts[:, 0], [1, 2, 10])


def test_plot_tool_histograms_count_selections_up_to_each_epoch(plot_tool):
    counts = np.array([[1, 0, 0, 1], [1, 1, 0, 0], [1, 0, 0, 1]])
    np.testing.assert_array_equal(
        plot_tool.frequency_histograms(counts),
        [[2, 2, 0, 0], [1, 2, 1, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(
        plot_tool.persistence(counts), [np.nan, 0.5, 0.5])
    expected = plot_tool.random_selection_histogram(4, 3, 6)
    assert expected.sum() == pytest.approx(4)
    np.testing.assert_allclose(expected, 4 * np.array([1, 3, 3, 1]) / 8)


def test_plot_tool_draws_a_png_of_a_training_run(unix_run, tmp_path):
    work_dir, _, _ = unix_run
    out = tmp_path / 'hard.png'
    result = run_tool([PYTHON, PLOT_TOOL,
                       str(work_dir), '--out',
                       str(out)],
                      timeout=120)
    assert_ok(result)
    assert result.stdout.strip() == str(out)
    assert out.stat().st_size > 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
