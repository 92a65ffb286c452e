"""setup.py puts configs/, tools/ and model-index.yml into mmunix/.mim: links
for an editable install, copies in a wheel (docs/mim.md)."""
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO_ROOT, assert_ok


def load_setup():
    """setup.py as a module; its ``setup()`` call runs only as a script."""
    spec = importlib.util.spec_from_file_location(
        'mmunix_setup', osp.join(REPO_ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup_py = load_setup()


@pytest.fixture
def source(tmp_path):
    """A repository root with the three things .mim holds."""
    root = tmp_path / 'repo'
    (root / 'configs' / '__pycache__').mkdir(parents=True)
    (root / 'configs' / 'a_cifar100.py').write_text('model = None\n')
    (root / 'configs' / '__pycache__' / 'a.cpython-311.pyc').write_bytes(b'')
    (root / 'tools').mkdir()
    (root / 'tools' / 'train.py').write_text('# train\n')
    (root / 'model-index.yml').write_text('Import: []\n')
    (root / 'mmunix').mkdir()
    return root


def test_editable_installs_are_recognised_by_their_command():
    assert setup_py.is_editable_install(['setup.py', 'editable_wheel'])
    assert setup_py.is_editable_install(['setup.py', 'develop'])
    for command in ('bdist_wheel', 'sdist', 'egg_info', 'dist_info'):
        assert not setup_py.is_editable_install(['setup.py', command])


def test_links_are_relative_and_replace_copies(source):
    mim_dir = source / 'mmunix' / '.mim'
    setup_py.add_mim_extension(str(source), str(mim_dir), 'copy')
    setup_py.add_mim_extension(str(source), str(mim_dir), 'symlink')

    for name in ('configs', 'tools', 'model-index.yml'):
        assert os.readlink(mim_dir / name) == osp.join('..', '..', name)
    assert (mim_dir / 'configs' / 'a_cifar100.py').read_text() == \
        'model = None\n'


def test_copies_replace_links_without_touching_the_sources(source):
    mim_dir = source / 'mmunix' / '.mim'
    setup_py.add_mim_extension(str(source), str(mim_dir), 'symlink')
    setup_py.add_mim_extension(str(source), str(mim_dir), 'copy')

    assert not any(
        osp.islink(mim_dir / name)
        for name in ('configs', 'tools', 'model-index.yml'))
    assert sorted(os.listdir(mim_dir / 'configs')) == ['a_cifar100.py']
    assert (mim_dir / 'tools' / 'train.py').read_text() == '# train\n'
    sources = sorted(os.listdir(source / 'configs'))
    assert sources == ['__pycache__', 'a_cifar100.py']


def test_missing_sources_are_skipped(source, tmp_path):
    # A wheel built from an sdist: nothing to link or copy from here.
    mim_dir = tmp_path / 'build' / 'mmunix' / '.mim'
    (source / 'tools' / 'train.py').unlink()
    (source / 'tools').rmdir()
    setup_py.add_mim_extension(str(source), str(mim_dir), 'copy')
    assert sorted(os.listdir(mim_dir)) == ['configs', 'model-index.yml']


@pytest.mark.slow
def test_the_wheel_carries_mim_files_and_leaves_the_source_alone(tmp_path):
    """Build a wheel from a copy of the working tree with this environment's
    setuptools (no download)."""
    copy = tmp_path / 'src'
    ignore = shutil.ignore_patterns('.mim', '__pycache__', '*.pyc')
    for name in ('mmunix', 'configs', 'tools', 'requirements'):
        shutil.copytree(osp.join(REPO_ROOT, name), copy / name, ignore=ignore)
    for name in ('setup.py', 'MANIFEST.in', 'README.md', 'LICENSE',
                 'model-index.yml'):
        shutil.copy(osp.join(REPO_ROOT, name), copy / name)

    result = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-w',
        str(tmp_path / 'dist'),
        str(copy)
    ],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert_ok(result)

    (wheel, ) = (tmp_path / 'dist').iterdir()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    mim_files = {
        name[len('mmunix/.mim/'):]
        for name in names if name.startswith('mmunix/.mim/')
    }
    expected = {
        osp.relpath(osp.join(dirpath, file), copy)
        for top in ('configs', 'tools')
        for dirpath, _, files in os.walk(copy / top)
        for file in files
    } | {'model-index.yml'}
    assert mim_files == expected
    assert {
        'tools/train.py', 'tools/test.py', 'configs/metafile.yml',
        'configs/unix_r56_r20_cifar100.py'
    } <= mim_files
    assert 'mmunix/apis/model_index.py' in names
    assert not (copy / 'mmunix' / '.mim').exists()
