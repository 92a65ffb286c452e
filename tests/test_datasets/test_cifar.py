"""CIFAR-100 loading: clear errors offline, and own CIFAR-format data."""
import io
import os
import pickle

import numpy as np
import pytest

from mmunix.datasets import CIFAR100
from mmunix.datasets.cifar import _ArrayUnpickler
from mmunix.datasets.synthetic_cifar import write_synthetic_cifar100


def test_own_cifar_format_data_loads_without_md5(cifar_root):
    train = CIFAR100(data_root=cifar_root, split='train', check_md5=False)
    test = CIFAR100(data_root=cifar_root, split='test', check_md5=False)
    assert (len(train), len(test)) == (16, 8)
    sample = train.get_data_info(3)
    assert sample['img'].shape == (32, 32, 3)
    assert sample['img'].dtype == np.uint8
    assert sample['gt_label'] == 3
    assert len(train.metainfo['classes']) == 100


def test_md5_mismatch_is_an_error_that_suggests_check_md5(cifar_root):
    with pytest.raises(FileNotFoundError, match='fails its md5 check') as err:
        CIFAR100(data_root=cifar_root, split='train')
    assert 'check_md5=False' in str(err.value)


def test_missing_folder_says_where_files_go_and_how_to_get_them(tmp_path):
    root = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError) as err:
        CIFAR100(data_root=root, split='train', check_md5=False)
    message = str(err.value)
    assert os.path.join(root, 'cifar-100-python', 'train') in message
    assert 'cifar-100-python.tar.gz' in message
    assert 'download=True' in message


def test_incomplete_folder_names_the_missing_file(tmp_path):
    root = write_synthetic_cifar100(str(tmp_path))
    os.remove(os.path.join(root, 'cifar-100-python', 'test'))
    with pytest.raises(FileNotFoundError, match=r'missing \S+test\n'):
        CIFAR100(data_root=root, split='train', check_md5=False)


def test_offline_default_never_downloads(tmp_path, monkeypatch):
    import mmpretrain.datasets.cifar as mmpretrain_cifar

    def no_network(*args, **kwargs):
        raise AssertionError('tried to download')

    monkeypatch.setattr(mmpretrain_cifar, 'download_and_extract_archive',
                        no_network)
    with pytest.raises(FileNotFoundError):
        CIFAR100(data_root=str(tmp_path), split='test')


class RunsShellOnLoad:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_own_data_is_unpickled_without_running_code(tmp_path):
    # Without the md5 check nothing vouches for the files' content.
    root = write_synthetic_cifar100(str(tmp_path))
    marker = tmp_path / 'pwned'
    train_file = os.path.join(root, 'cifar-100-python', 'train')
    with open(train_file, 'wb') as f:
        pickle.dump({'data': RunsShellOnLoad(marker), 'fine_labels': []}, f)
    with pytest.raises(pickle.UnpicklingError,
                       match=r'train: posix\.system is not allowed in a '
                       'CIFAR file'):
        CIFAR100(data_root=root, split='train', check_md5=False)
    assert not marker.exists()


def test_arrays_pickled_under_numpy_1_module_paths_load():
    # The official archive names NumPy 1's module, numpy.core.multiarray.
    data = np.arange(6, dtype=np.uint8).reshape(2, 3)
    blob = pickle.dumps({'data': data}, protocol=2)
    legacy = blob.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    assert b'numpy.core.multiarray' in legacy
    loaded = _ArrayUnpickler(io.BytesIO(legacy), encoding='latin1').load()
    assert np.array_equal(loaded['data'], data)
