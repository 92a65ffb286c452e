"""CIFAR-100 loading: clear errors offline, and own CIFAR-format data."""
import io
import os
import pickle
import warnings

import numpy as np
import pytest
from mmengine.fileio import BaseStorageBackend, register_backend

from mmunix.datasets import CIFAR100
from mmunix.datasets.cifar import CIFAR_PICKLE_GLOBALS, _ArrayUnpickler
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
    with pytest.raises(
            pickle.UnpicklingError,
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


# Malformed CIFAR-format data is refused when the dataset is built, one line
# per problem. The tests write each split's file with ``rewrite``.
@pytest.fixture
def own_root(tmp_path) -> str:
    """A fresh tiny CIFAR-100 (16 train, 8 test images) that tests edit."""
    return write_synthetic_cifar100(str(tmp_path))


def rewrite(root: str, split: str, entry, protocol: int = 2) -> str:
    """Replace the file of ``split`` with ``entry``; return its path."""
    path = os.path.join(root, 'cifar-100-python', split)
    with open(path, 'wb') as f:
        pickle.dump(entry, f, protocol=protocol)
    return path


def problems_of(root: str, split: str, **kwargs) -> list:
    """The problem lines of the error that building ``split`` raises."""
    with pytest.raises(ValueError) as err:
        CIFAR100(data_root=root, split=split, check_md5=False, **kwargs)
    _, *lines = str(err.value).split('\n')
    assert all(line.startswith('  ') for line in lines)
    return [line[2:] for line in lines]


def images(num: int, dtype=np.uint8, row: int = 3072) -> np.ndarray:
    """``num`` rows whose pixel ``j`` of image ``i`` is ``(7 * i + j) % 256``.
    """
    return ((7 * np.arange(num)[:, None] + np.arange(row)) % 256).astype(dtype)


# Which rebuild each protocol writes for a contiguous uint8 array.
@pytest.mark.parametrize('protocol, rebuilt_by', [
    (0, b'_reconstruct'),
    (1, b'_reconstruct'),
    (2, b'_reconstruct'),
    (3, b'_reconstruct'),
    (4, b'_reconstruct'),
    (5, b'_frombuffer'),
])
def test_valid_arrays_load_under_every_pickle_protocol(own_root, protocol,
                                                       rebuilt_by):
    path = rewrite(own_root, 'train', {
        'data': images(3),
        'fine_labels': [5, 0, 99]
    }, protocol)
    with open(path, 'rb') as f:
        assert rebuilt_by in f.read()
    train = CIFAR100(data_root=own_root, split='train', check_md5=False)
    assert [train.get_data_info(i)['gt_label'] for i in range(3)] == [5, 0, 99]
    img = train.get_data_info(2)['img']
    # Row 2 holds the R, G and B planes: pixel (y, x) of channel c is byte
    # c * 1024 + y * 32 + x, whose value is (14 + that byte) % 256.
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [14, (14 + 1024) % 256, (14 + 2048) % 256]
    assert img[1, 2].tolist() == [
        14 + 34, (14 + 34 + 1024) % 256, (14 + 34 + 2048) % 256
    ]


@pytest.mark.parametrize(
    'labels',
    [
        np.array([5, 0, 99], dtype=np.uint8),
        list(np.array([5, 0, 99])),  # NumPy integers
    ])
def test_labels_may_be_a_numpy_array_or_numpy_integers(own_root, labels):
    rewrite(own_root, 'test', {'data': images(3), 'fine_labels': labels})
    test = CIFAR100(data_root=own_root, split='test', check_md5=False)
    assert [test.get_data_info(i)['gt_label'] for i in range(3)] == [5, 0, 99]


def test_numpy_1_names_resolve_without_a_deprecation_warning():
    # Files written by NumPy 1 name numpy.core, which NumPy 2 renamed.
    unpickler = _ArrayUnpickler(io.BytesIO(b''))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        found = {
            (module, name): unpickler.find_class(module, name)
            for module, name in CIFAR_PICKLE_GLOBALS
        }
    assert found[('numpy.core.numeric',
                  '_frombuffer')] is found[('numpy._core.numeric',
                                            '_frombuffer')]
    assert found[('numpy.core.multiarray',
                  '_reconstruct')] is found[('numpy._core.multiarray',
                                             '_reconstruct')]
    assert found[('__builtin__', 'bytes')] is bytes


def test_rows_that_are_not_3072_bytes_name_the_file_and_shape(own_root):
    path = rewrite(own_root, 'train', {
        'data': images(4, row=3000),
        'fine_labels': [0, 1, 2, 3]
    })
    with pytest.raises(ValueError) as err:
        CIFAR100(data_root=own_root, split='train', check_md5=False)
    assert str(err.value) == (
        f'CIFAR-100 (train split) from data_root={own_root!r} is not in the '
        "CIFAR format ('data': uint8 of shape (N, 3072) with N > 0, "
        "'fine_labels': N integers in 0..99):\n"
        f"  {path}: 'data' has shape (4, 3000), not (N, 3072): one row of "
        '3 x 32 x 32 bytes per image')


@pytest.mark.parametrize('data, problem', [
    (images(4, np.float32), "'data' is float32, not uint8"),
    (images(4, np.int64), "'data' is int64, not uint8"),
    (images(4).reshape(4, 3, 32, 32),
     "'data' has shape (4, 3, 32, 32), not (N, 3072): one row of 3 x 32 x "
     '32 bytes per image'),
    (images(4).tolist(), "'data' is a list, not a NumPy array"),
])
def test_data_that_is_not_a_2d_uint8_array_is_refused(own_root, data, problem):
    path = rewrite(own_root, 'train', {
        'data': data,
        'fine_labels': [0, 1, 2, 3]
    })
    assert problems_of(own_root, 'train') == [f'{path}: {problem}']


@pytest.mark.parametrize('labels, problem', [
    ([0, 1, 2], "'fine_labels' has 3 labels for 4 images in 'data'"),
    ([0, 1, 2, 3, 4], "'fine_labels' has 5 labels for 4 images in 'data'"),
])
def test_a_label_count_unequal_to_the_image_count_is_refused(
        own_root, labels, problem):
    # zip() used to drop the images without labels silently.
    path = rewrite(own_root, 'train', {
        'data': images(4),
        'fine_labels': labels
    })
    assert problems_of(own_root, 'train') == [f'{path}: {problem}']


@pytest.mark.parametrize('labels, problem', [
    ([0.0, 1.0, 2.0, 3.0], "'fine_labels' holds float64 values, not integers"),
    (['0', '1', '2', '3'], "'fine_labels' holds <U1 values, not integers"),
    ([[0], [1], [2], [3]], "'fine_labels' is not a flat list (shape (4, 1))"),
    ([[0], [1, 2], [2], [3]], "'fine_labels' is not a flat list"),
])
def test_labels_that_are_not_a_flat_list_of_integers_are_refused(
        own_root, labels, problem):
    path = rewrite(own_root, 'train', {
        'data': images(4),
        'fine_labels': labels
    })
    assert problems_of(own_root, 'train') == [f'{path}: {problem}']


def test_test_labels_outside_the_classes_are_refused(own_root):
    # Such a test split used to train and report 0.00 % top-1, exit 0.
    path = rewrite(own_root, 'test', {
        'data': images(8),
        'fine_labels': [150 + i for i in range(8)]
    })
    assert problems_of(own_root, 'test') == [
        f"{path}: 8 of the 8 'fine_labels' are outside 0..99, the 100 "
        "classes in the dataset's metainfo['classes']: 150, 151, 152, ..."
    ]


def test_negative_train_labels_are_refused(own_root):
    path = rewrite(own_root, 'train', {
        'data': images(4),
        'fine_labels': [0, -1, 5, -1]
    })
    assert problems_of(own_root, 'train') == [
        f"{path}: 2 of the 4 'fine_labels' are outside 0..99, the 100 "
        "classes in the dataset's metainfo['classes']: -1"
    ]


def test_label_range_follows_classes_given_in_metainfo(own_root):
    # The tiny train split has labels 0..15.
    path = os.path.join(own_root, 'cifar-100-python', 'train')
    ten = dict(classes=[f'class_{i}' for i in range(10)])
    assert problems_of(
        own_root, 'train', metainfo=ten) == [
            f"{path}: 6 of the 16 'fine_labels' are outside 0..9, the 10 "
            "classes in the dataset's metainfo['classes']: 10, 11, 12, ..."
        ]
    sixteen = dict(classes=[f'class_{i}' for i in range(16)])
    train = CIFAR100(
        data_root=own_root, split='train', check_md5=False, metainfo=sixteen)
    assert len(train) == 16


@pytest.mark.parametrize('split, protocol, rebuilt_by', [
    ('train', 2, b'c__builtin__\nbytes\n'),
    ('test', 5, b'_frombuffer'),
])
def test_an_empty_split_is_refused_clearly(own_root, split, protocol,
                                           rebuilt_by):
    # Protocol 2 writes an empty array's buffer as bytes(), protocol 5 as
    # an empty in-band buffer; both used to be refused as unsafe.
    path = rewrite(own_root, split, {
        'data': np.zeros((0, 3072), np.uint8),
        'fine_labels': []
    }, protocol)
    with open(path, 'rb') as f:
        assert rebuilt_by in f.read()
    assert problems_of(own_root, split) == [
        f"{path}: 'data' holds no images: the {split} split would be empty"
    ]


def test_each_problem_of_a_file_gets_its_own_line(own_root):
    path = rewrite(own_root, 'train', {
        'data': images(4, np.float64, row=3000),
        'fine_labels': [0, 1, 100]
    })
    assert problems_of(own_root, 'train') == [
        f"{path}: 'data' has shape (4, 3000), not (N, 3072): one row of "
        '3 x 32 x 32 bytes per image',
        f"{path}: 'data' is float64, not uint8",
        f"{path}: 1 of the 3 'fine_labels' are outside 0..99, the 100 "
        "classes in the dataset's metainfo['classes']: 100",
    ]


@pytest.mark.parametrize('entry, problems', [
    ([1, 2], ["holds a list, not a dict with 'data' and 'fine_labels'"]),
    ({
        'data': images(4)
    }, ["has no 'fine_labels'"]),
    ({
        'labels': [0]
    }, ["has no 'data'", "has no 'fine_labels'"]),
])
def test_a_file_that_is_not_a_cifar_dict_is_refused(own_root, entry, problems):
    path = rewrite(own_root, 'train', entry)
    assert problems_of(
        own_root, 'train') == [f'{path}: {problem}' for problem in problems]


def test_an_empty_file_is_refused_with_its_name(own_root):
    path = os.path.join(own_root, 'cifar-100-python', 'test')
    open(path, 'wb').close()
    with pytest.raises(pickle.UnpicklingError) as err:
        CIFAR100(data_root=own_root, split='test', check_md5=False)
    assert str(err.value) == (
        f'{path}: the file ends before its pickle does (empty or truncated)')


class Calls:
    """Pickles as ``function(*args)``, e.g. an attacker's payload."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize('payload, protocol, refused', [
    (Calls(np.load, 'evil.npy', None, True), 2, 'numpy.load'),
    (Calls(eval, 'open("pwned", "w")'), 2, '__builtin__.eval'),
    (Calls(eval, 'open("pwned", "w")'), 5, 'builtins.eval'),
    (Calls(np.frombuffer, b'\0'), 5, 'numpy.frombuffer'),
])
def test_globals_beyond_those_of_arrays_are_refused(own_root, tmp_path,
                                                    monkeypatch, payload,
                                                    protocol, refused):
    monkeypatch.chdir(tmp_path)
    path = rewrite(own_root, 'train', {'data': payload}, protocol)
    with pytest.raises(pickle.UnpicklingError) as err:
        CIFAR100(data_root=own_root, split='train', check_md5=False)
    assert str(err.value) == (
        f'{path}: {refused} is not allowed in a CIFAR file, which may hold '
        'only dicts, lists, strings, numbers, bytes and NumPy arrays; '
        'unpickling it could run code')
    assert not (tmp_path / 'pwned').exists()


NOT_A_CIFAR_PICKLE = ('is not a readable CIFAR pickle (damaged, or not in '
                      'the CIFAR python format): ')


@pytest.mark.parametrize(
    'content, detail',
    [
        # Random bytes: the unpickler's own message names no file or format.
        (np.random.default_rng(0).bytes(4096), "invalid load key, '_'."),
        (b'airplane,automobile,bird\n', 'unpickling stack underflow'),
        # The downloaded archive in place of the file extracted from it.
        (b'\x1f\x8b\x08\x00' + bytes(60), "invalid load key, '\\x1f'."),
        (b'\x80\x02\x82\x2a.', 'ValueError: unregistered extension code 42'),
        (b'\x80\x03X\x02\x00\x00\x00\xff\xfe.',
         "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in "
         'position 0: invalid start byte'),
        # A length field of 2**64 - 1 bytes.
        (b'\x80\x05\x96' + b'\xff' * 8 + b'.',
         "OverflowError: BYTEARRAY8 exceeds system's maximum size of "),
        # An allowed global, called with arguments it cannot take.
        (b'\x80\x02cnumpy.core.multiarray\n_reconstruct\n)R.',
         'TypeError: _reconstruct() takes exactly 3 arguments (0 given)'),
    ],
    ids=['random', 'text', 'gzip', 'extension', 'utf8', 'length', 'call'])
def test_a_file_that_is_no_pickle_is_named_as_such(own_root, content, detail):
    path = os.path.join(own_root, 'cifar-100-python', 'train')
    with open(path, 'wb') as f:
        f.write(content)
    with pytest.raises(pickle.UnpicklingError) as err:
        CIFAR100(data_root=own_root, split='train', check_md5=False)
    assert str(err.value).startswith(f'{path} {NOT_A_CIFAR_PICKLE}{detail}')
    assert '\n' not in str(err.value)


class CountingBackend(BaseStorageBackend):
    """A storage backend for ``counted://data/...`` URIs that serves the local
    folder ``root`` and counts every read, as a remote store (s3, petrel) would
    be reached through ``mmengine.fileio``."""
    reads = []

    def __init__(self, root=None):
        self.root = root

    def _local(self, filepath):
        return str(filepath).replace('counted://data', self.root, 1)

    def get(self, filepath):
        self.reads.append(str(filepath))
        with open(self._local(filepath), 'rb') as f:
            return f.read()

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def exists(self, filepath):
        return os.path.exists(self._local(filepath))

    def join_path(self, filepath, *filepaths):
        return '/'.join([str(filepath).rstrip('/'), *filepaths])


def test_files_are_read_through_mmengine_fileio_with_backend_args(cifar_root):
    register_backend(
        'counted', CountingBackend, prefixes='counted', force=True)
    CountingBackend.reads.clear()
    remote = CIFAR100(
        data_root='counted://data',
        split='train',
        check_md5=False,
        backend_args=dict(backend='counted', root=cifar_root))
    local = CIFAR100(data_root=cifar_root, split='train', check_md5=False)

    assert len(remote) == len(local) == 16
    for i in (0, 15):
        np.testing.assert_array_equal(
            remote.get_data_info(i)['img'],
            local.get_data_info(i)['img'])
    assert remote.get_gt_labels().tolist() == local.get_gt_labels().tolist()
    # Once, and only the split's file (the class names are mmpretrain's).
    assert CountingBackend.reads == ['counted://data/cifar-100-python/train']


def test_a_file_is_read_once_for_its_md5_and_its_content(cifar_root):
    register_backend(
        'counted', CountingBackend, prefixes='counted', force=True)
    CountingBackend.reads.clear()
    with pytest.raises(FileNotFoundError, match='fails its md5 check'):
        CIFAR100(
            data_root='counted://data',
            split='test',
            backend_args=dict(backend='counted', root=cifar_root))
    # Both splits are checked, each file read once.
    assert sorted(CountingBackend.reads) == [
        'counted://data/cifar-100-python/test',
        'counted://data/cifar-100-python/train',
    ]
