"""tools/analysis_tools/benchmark.py and mmunix.utils.benchmark, on CPU.

Only the mechanics are pinned here (keys, positive timings, the exact FLOPs
ratio, the plain reference doing mmunix's math); speed belongs to
docs/benchmarks.md, not to tests.
"""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import PYTHON, REPO_ROOT, assert_ok, run_tool
from mmengine.config import Config

from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.benchmark import (METHODS, PlainUNIXStep, run_benchmark,
                                    time_interleaved)
from mmunix.utils.complexity import measure_complexity

CONFIG = 'configs/unix_r56_r20_cifar100.py'
RATIO_KEYS = {
    'unix_kd_time', 'plain_unix_kd_time', 'unix_kd_flops',
    'mmunix_plain_unix_time', 'mmunix_plain_kd_time'
}


def build_unix_model():
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.model.teacher_ckpt = None
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(cfg.model)


def run_on_one_thread(config, **kwargs):
    """``run_benchmark`` on one thread, as ``run_tool`` runs subprocesses:

    two OpenMP threads on a busy 2-core machine can make each tiny iteration
    10x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_benchmark(config, iters=2, batch_size=8, warmup=1, **kwargs)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def result():
    return run_on_one_thread(CONFIG)


def test_result_has_positive_timings_of_every_iteration(result):
    assert set(result['median_ms']) == set(METHODS)
    for name in METHODS:
        assert len(result['times_ms'][name]) == 2
        assert all(t > 0 for t in result['times_ms'][name])
        assert result['median_ms'][name] > 0
        assert result['min_ms'][name] > 0
        assert result['minor_faults'][name] >= 0
    assert set(result['ratios']) == RATIO_KEYS
    assert set(result['ratios_of_min']) == RATIO_KEYS - {'unix_kd_flops'}
    assert all(value > 0 for value in result['ratios'].values())
    assert result['threads'] == 1
    assert (result['batch_size'], result['num_selected'],
            result['num_clean']) == (8, 6, 4)


def test_flops_ratio_is_the_design_formula_on_measured_flops(result):
    model = build_unix_model()
    _, f_t = measure_complexity(model.teacher)
    _, f_s = measure_complexity(model.student)
    n, k = 8, 6
    assert result['flops'] == dict(teacher=f_t, student=f_s)
    # int / int is correctly rounded in Python, like the benchmark's exact
    # rational arithmetic, so the two agree to the last bit.
    assert result['ratios']['unix_kd_flops'] == \
        (n * f_s + k * (f_t + 2 * f_s)) / (n * (f_t + 2 * f_s))


def test_compute_budget_config_is_benchmarked_at_its_solved_k(tmp_path):
    config = tmp_path / 'unix_budget.py'
    config.write_text(
        f'_base_ = [{str(osp.join(REPO_ROOT, CONFIG))!r}]\n'
        'data_preprocessor = dict(num_selected=None, compute_budget=0.9)\n')
    budget = run_on_one_thread(str(config))
    # k/N = 0.9 - F_s / (F_t + 2 F_s) = 0.703 keeps 6 of 8 (and
    # run_benchmark checks that mmunix kept as many).
    assert budget['num_selected'] == 6


def test_plain_reference_mixes_and_selects_like_mmunix():
    model = build_unix_model().train()
    preprocessor = model.data_preprocessor
    plain = PlainUNIXStep(
        copy.deepcopy(model.student),
        copy.deepcopy(model.teacher),
        mean=preprocessor.mean.flatten().tolist(),
        std=preprocessor.std.flatten().tolist(),
        temperature=4.0,
        optimizer=dict(lr=0.1),
        num_selected=6,
        num_clean=4,
        sharpness=preprocessor.sharpness,
        mix_alpha=preprocessor.mix_alpha)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    x = plain.normalise(images)

    np.random.seed(1)
    torch.manual_seed(1)
    expected = preprocessor.mix_and_select(x, torch.zeros(8, dtype=torch.long),
                                           model.score_forward(x)).inputs
    np.random.seed(1)
    torch.manual_seed(1)
    mixed = plain.mix_and_select(x)
    torch.testing.assert_close(mixed, expected)


def test_rounds_interleave_and_rotate_and_skip_warmup():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in 'abc'}
    times, faults = time_interleaved(
        steps, iters=2, warmup=1, device=torch.device('cpu'))
    assert calls == list('abc'
                         'bca'
                         'cab')
    assert {name: len(values) for name, values in times.items()} == \
        {name: len(values) for name, values in faults.items()} == \
        dict(a=2, b=2, c=2)


def test_sync_debug_finds_no_host_sync_in_the_timed_steps():
    # Every timed step of the four runs under the refusing trap.
    result = run_on_one_thread(CONFIG, sync_debug=True)
    assert all(len(times) == 2 for times in result['times_ms'].values())


def test_sync_debug_refuses_amp_whose_scaler_always_syncs():
    with pytest.raises(ValueError, match='cannot check --amp'):
        run_benchmark(CONFIG, iters=1, batch_size=8, amp=True, sync_debug=True)


def test_amp_on_cpu_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match='CUDA only'):
        run_benchmark(CONFIG, iters=1, batch_size=8, amp=True)


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / 'bench.json'
    finished = run_tool([
        PYTHON, 'tools/analysis_tools/benchmark.py', CONFIG, '--batch-size',
        '8', '--iters', '2', '--warmup', '1', '--json',
        str(out)
    ])
    assert_ok(finished)
    for label in ('KD (mmunix)', 'UNIX (mmunix)', 'UNIX (plain PyTorch)',
                  'UNIX / KD FLOPs', 'thread'):
        assert label in finished.stdout
    dumped = json.loads(out.read_text())
    assert set(dumped['ratios']) == RATIO_KEYS
    assert dumped['iters'] == 2
