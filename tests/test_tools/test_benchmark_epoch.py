"""tools/analysis_tools/benchmark_epoch.py and mmunix.utils.epoch_benchmark.

The mechanics only (what runs, what is reported, what is refused); speed
belongs to docs/benchmarks.md.
"""
import json

import pytest
import torchvision.transforms as T
from conftest import PYTHON, REPO_ROOT, assert_ok, run_tool
from mmengine import Config

from mmunix.utils.epoch_benchmark import (RUNS, run_epoch_benchmark,
                                          torchvision_transform)

CONFIG = 'configs/unix_r56_r20_cifar100.py'
NORM = dict(mean=[127.5, 127.5, 127.5], std=[51., 51., 51.])


@pytest.fixture(scope='module')
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench') / 'epoch.json'
    finished = run_tool([
        PYTHON, 'tools/analysis_tools/benchmark_epoch.py', CONFIG,
        '--generate', '40', '--batch-size', '4', '--iters', '3', '--warmup',
        '2', '--rounds', '2', '--workers', '1', '--json',
        str(out)
    ])
    assert_ok(finished)
    return finished.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_cli_prints_every_run_and_the_targets(cli_run):
    table, _ = cli_run
    for label in ('KD (mmunix Runner)', 'UNIX (mmunix Runner)',
                  'KD (plain PyTorch)', 'UNIX (plain PyTorch)',
                  'samples/s per worker', 'UNIX / KD FLOPs',
                  'mmunix / plain, UNIX', 'target <= 1.05'):
        assert label in table


def test_json_has_each_round_of_each_run_and_the_settings(cli_run):
    _, result = cli_run
    assert (result['batch_size'], result['num_selected'], result['num_clean'],
            result['num_workers'], result['iters'], result['warmup'],
            result['rounds']) == (4, 3, 2, 1, 3, 2, 2)
    assert result['device'] == 'cpu' and result['image_shape'] == [3, 32, 32]
    for name in RUNS:
        assert len(result['runs'][name]) == 2
        assert all(run['seconds'] > 0 and run['data_wait'] >= 0
                   for run in result['runs'][name])
        assert result['ms_per_iter'][name] > 0
        assert result['samples_per_s'][name] == pytest.approx(
            4000 / result['ms_per_iter'][name])
    assert set(
        result['loader_samples_per_s_per_worker']) == {'mmunix', 'plain'}
    assert [len(v) for v in result['loader_samples_per_s'].values()] == [2, 2]
    assert result['extra_work'] == []
    ratios = result['ratios']
    assert ratios['unix_kd_time'] == pytest.approx(
        result['ms_per_iter']['unix'] / result['ms_per_iter']['kd'])
    f_t, f_s = result['flops']['teacher'], result['flops']['student']
    assert ratios['unix_kd_flops'] == (4 * f_s + 3 *
                                       (f_t + 2 * f_s)) / (4 * (f_t + 2 * f_s))


def test_plain_pipeline_is_torchvisions_version_of_the_configs():
    cfg = Config.fromfile(f'{REPO_ROOT}/{CONFIG}')
    transform = torchvision_transform(cfg.train_dataloader.dataset.pipeline,
                                      cfg.data_preprocessor, (32, 32))
    crop, flip, to_tensor, normalize = transform.transforms
    assert (type(crop), crop.size, crop.padding) == (T.RandomCrop, (32, 32), 4)
    assert (type(flip), flip.p) == (T.RandomHorizontalFlip, 0.5)
    assert type(to_tensor) is T.ToTensor
    assert normalize.mean == pytest.approx([0.5071, 0.4866, 0.4409])
    assert normalize.std == pytest.approx([0.2675, 0.2565, 0.2761])


def test_device_augmentation_is_done_on_the_cpu_by_the_plain_loop():
    transform = torchvision_transform([dict(type='PackInputs')],
                                      dict(
                                          NORM,
                                          train_augment=dict(
                                              type='BatchRandomCropFlip',
                                              padding=2,
                                              flip_prob=0.25)), (32, 32))
    crop, flip, *_ = transform.transforms
    assert (type(crop), crop.size, crop.padding) == (T.RandomCrop, (32, 32), 2)
    assert (type(flip), flip.p) == (T.RandomHorizontalFlip, 0.25)


@pytest.mark.parametrize('step,message', [
    (dict(type='ColorJitter'), "'ColorJitter'"),
    (dict(type='RandomCrop', crop_size=32, padding=4,
          padding_mode='reflect'), 'RandomCrop with padding_mode'),
    (dict(type='RandomFlip', prob=0.5, direction='vertical'), "'vertical'"),
])
def test_pipeline_steps_the_plain_loop_cannot_copy_are_named(step, message):
    with pytest.raises(ValueError, match=message):
        torchvision_transform([step], NORM, (32, 32))


def test_an_mmcv_flip_without_prob_never_flips_in_the_plain_loop_either():
    transform = torchvision_transform(
        [dict(type='RandomFlip'),
         dict(type='PackInputs')], NORM, (32, 32))
    assert [type(t) for t in transform.transforms] == [T.ToTensor, T.Normalize]


@pytest.mark.parametrize('kwargs,message', [
    (dict(amp='fp16'), 'CUDA only'),
    (dict(amp='int8'), "choose one of \\['bf16', 'fp16'\\]"),
    (dict(generate=10), 'fewer than'),
    (dict(warmup=0), 'warmup >= 1'),
])
def test_impossible_settings_are_refused_before_any_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_epoch_benchmark(CONFIG, iters=3, batch_size=4, **kwargs)


def test_generate_is_refused_for_a_dataset_that_is_not_cifar():
    with pytest.raises(ValueError, match="trains on 'Digits'"):
        run_epoch_benchmark(
            'configs/demo/unix_r20_r8_digits.py', iters=3, generate=1000)


@pytest.mark.slow
def test_a_budget_config_runs_at_its_solved_k_and_extra_losses_are_noted(
        tmp_path):
    config = tmp_path / 'at_unix_budget.py'
    config.write_text(
        f"_base_ = ['{REPO_ROOT}/configs/at-unix_r56_r20_cifar100.py']\n"
        'data_preprocessor = dict(num_selected=None, compute_budget=0.9)\n')
    result = run_epoch_benchmark(
        str(config),
        iters=2,
        warmup=1,
        rounds=1,
        batch_size=4,
        num_workers=0,
        generate=12)
    # k/N = 0.9 - F_s / (F_t + 2 F_s) = 0.703 keeps 3 of 4.
    assert result['num_selected'] == 3
    assert result['extra_work'] == ['loss_at']


def test_a_kd_loss_other_than_hintons_is_noted_as_work_the_plain_loop_skips():
    from mmunix.registry import MODELS
    from mmunix.utils.epoch_benchmark import _work_the_plain_loop_skips
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/at-unix_r56_r20_cifar100.py')
    cfg.model.teacher_ckpt = None
    cfg.model.kd_loss = dict(type='SPLoss', loss_weight=2.0)
    model = MODELS.build(cfg.model)

    assert _work_the_plain_loop_skips(model,
                                      cfg) == ['loss_kd (SPLoss)', 'loss_at']
