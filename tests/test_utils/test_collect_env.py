"""``python -m mmunix.utils.collect_env`` reports what a bug report needs."""
import os.path as osp
import subprocess
import sys

import mmcv
import mmpretrain
import pytest
from conftest import REPO_ROOT
from mmengine.utils.dl_utils import collect_env as collect_base_env

import mmunix
from mmunix.utils.collect_env import (collect_env, describe_mmcv,
                                      installed_distributions)

ADDED_KEYS = ['MMCV', 'MMPreTrain', 'fvcore', 'mmunix', 'mmunix path']


def test_report_is_mmengines_without_build_details_then_mmunix_keys():
    base_keys = [
        key for key in collect_base_env() if key != 'PyTorch compiling details'
    ]
    env_info = collect_env()
    assert list(env_info) == base_keys + ADDED_KEYS
    assert env_info['mmunix'] == mmunix.__version__
    assert env_info['mmunix path'] == osp.dirname(osp.abspath(mmunix.__file__))
    assert env_info['MMPreTrain'] == mmpretrain.__version__
    assert env_info['MMCV'].startswith(mmcv.__version__ + ' (')


def test_torch_build_details_are_kept_on_request():
    env_info = collect_env(with_torch_compiling_info=True)
    assert 'PyTorch compiling details' in env_info
    assert list(env_info)[-5:] == ADDED_KEYS


def test_mmcv_flavour_comes_from_the_compiled_ops():
    assert describe_mmcv('2.2.0', False, ['mmcv-lite']) == \
        '2.2.0 (mmcv-lite, no compiled ops)'
    assert describe_mmcv('2.1.0', True, ['mmcv']) == \
        '2.1.0 (full mmcv, compiled ops)'
    both = describe_mmcv('2.1.0', True, ['mmcv-lite', 'mmcv'])
    assert both == ('2.1.0 (full mmcv, compiled ops); several mmcv '
                    'distributions share one folder: mmcv, mmcv-lite')


def test_installed_distributions_skips_missing_names():
    assert installed_distributions(['pytest', 'not-a-real-dist-xyz']) == \
        ['pytest']


@pytest.mark.slow
def test_module_prints_one_key_value_line_per_entry():
    result = subprocess.run([sys.executable, '-m', 'mmunix.utils.collect_env'],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    keys = [line.split(': ', 1)[0] for line in lines]
    assert keys == list(collect_env())
    assert lines[-2:] == [
        f'mmunix: {mmunix.__version__}',
        f'mmunix path: {osp.dirname(osp.abspath(mmunix.__file__))}'
    ]
