"""tools/analysis_tools/get_flops.py prints docs/algorithm.md's numbers."""
import re

import pytest
import yaml
from conftest import (PYTHON, REPO_ROOT, assert_ok, run_script_in_process,
                      run_tool)

SCRIPT = 'tools/analysis_tools/get_flops.py'


@pytest.mark.slow
def test_distillation_config_reports_flops_and_both_ratios():
    result = run_tool([PYTHON, SCRIPT, 'configs/unix_r56_r20_cifar100.py'])
    assert_ok(result)
    out = result.stdout
    f_t = float(re.search(r'F_t\s+([\d.]+) M', out).group(1))
    f_s = float(re.search(r'F_s\s+([\d.]+) M', out).group(1))
    # The output quoted in "Compute accounting" of docs/algorithm.md: fvcore
    # gives F_t = 126.85 M and F_s = 41.22 M (ratio 3.08).
    assert (f_t, f_s) == (126.85, 41.22)
    assert 'F_t/F_s     3.08' in out
    assert 'teacher params 0.86 M' in out and 'student params 0.28 M' in out
    assert 'UNIX        N=64, k=48' in out
    ratios = re.search(
        r'compute ratio vs KD\s+([\d.]+) .*\s([\d.]+) '
        r'\(backward = 2x\)', out)
    f_t, f_s = 126_847_232, 41_224_448
    assert float(ratios.group(1)) == pytest.approx(
        (64 * f_s + 48 * (f_t + 2 * f_s)) / (64 * (f_t + 2 * f_s)), abs=5e-5)
    assert float(ratios.group(2)) == pytest.approx(
        (64 * f_s + 48 * (f_t + 3 * f_s)) / (64 * (f_t + 3 * f_s)), abs=5e-5)


@pytest.mark.slow
def test_markdown_table_has_a_row_per_config():
    result = run_tool([
        PYTHON, SCRIPT, 'configs/kd_r56_r20_cifar100.py',
        'configs/_base_/models/cifar/resnet20.py', '--markdown'
    ])
    assert_ok(result)
    lines = [
        line for line in result.stdout.splitlines() if line.startswith('| `')
    ]
    assert len(lines) == 2
    model_row, kd_row = lines  # in natural order of the paths
    assert kd_row.startswith('| `configs/kd_r56_r20_cifar100.py` | 32 |')
    assert kd_row.endswith('| 64 | 64 | 1.0000 | 1.0000 |')
    assert model_row.startswith('| `configs/_base_/models/cifar/resnet20.py`'
                                ' | 32 | 0.28 | 41.2 |')


@pytest.mark.slow
def test_a_scope_prefixed_unix_preprocessor_is_still_unix(tmp_path):
    config = tmp_path / 'prefixed.py'
    config.write_text(
        f"_base_ = ['{REPO_ROOT}/configs/unix_r56_r20_cifar100.py']\n"
        "data_preprocessor = dict(type='mmunix.UNIXDataPreprocessor')\n")
    result = run_tool([PYTHON, SCRIPT, str(config)])
    assert_ok(result)
    assert 'UNIX        N=64, k=48' in result.stdout
    assert 'compute ratio vs KD  0.9470' in result.stdout
    assert 'WARNING' not in result.stdout


@pytest.mark.slow
def test_all_lists_every_config_with_a_model_and_a_fragment_is_refused():
    result = run_tool([PYTHON, SCRIPT, '--all'])
    assert_ok(result)
    rows = [
        line for line in result.stdout.splitlines() if line.startswith('| `')
    ]
    # 7 teachers, 8 vanilla students, 26 CIFAR distillers, 28 configs of 7
    # other methods (2 pairs, alone and with UNIX), 4 demo and 4 ImageNet
    # configs hold a model; demo_runtime.py does not.
    assert len(rows) == 77
    assert not any('demo_runtime' in row for row in rows)
    # The losses' trainable parts are a column of their own: FitNets'
    # connector costs 278528 flops per sample, KD's losses none.
    columns = {row.split(' | ')[0]: row.split(' | ') for row in rows}
    assert columns['| `configs/fitnets/fitnets_r56_r20_cifar100.py`'][4] == \
        '0.3'
    assert columns['| `configs/kd_r56_r20_cifar100.py`'][4] == '0.0'

    fragment = run_tool([PYTHON, SCRIPT, 'configs/demo/demo_runtime.py'])
    assert fragment.returncode == 2
    assert 'configs/demo/demo_runtime.py defines no model' in fragment.stderr


@pytest.mark.slow
def test_metafile_prints_exact_counts_as_metafile_metadata(
        monkeypatch, capsys):
    monkeypatch.chdir(REPO_ROOT)
    assert run_script_in_process(monkeypatch, SCRIPT,
                                 'configs/unix_r56_r20_cifar100.py',
                                 'configs/teachers/resnet56_cifar100.py',
                                 '--metafile') is None
    printed = yaml.safe_load(capsys.readouterr().out)
    # The entries of configs/teachers/metafile.yml and configs/metafile.yml.
    assert printed == [{
        'Config': 'configs/teachers/resnet56_cifar100.py',
        'Metadata': {
            'FLOPs': 126847232,
            'Parameters': 861620
        }
    }, {
        'Config': 'configs/unix_r56_r20_cifar100.py',
        'Metadata': {
            'FLOPs': 41224448,
            'Parameters': 278324,
            'Teacher FLOPs': 126847232,
            'Teacher Parameters': 861620,
            'Selected Fraction (k/N)': 0.75,
            'Compute Ratio vs KD': 0.947,
            'Compute Ratio vs KD (Backward 2x)': 0.9146
        }
    }]
