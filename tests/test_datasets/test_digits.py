"""Digits: scikit-learn's 8x8 digits as a fixed, stratified, CIFAR-shaped
dataset that needs no files and no network."""
import ast
import hashlib
import inspect
import sys

import numpy as np
import pytest
import torch

import mmunix.datasets.digits as digits_module
from mmunix.datasets.digits import Digits

pytest.importorskip('sklearn')

NUM_CLASSES = 10


def source_indices(dataset) -> np.ndarray:
    return np.array([
        dataset.get_data_info(i)['source_index'] for i in range(len(dataset))
    ])


def images(dataset) -> np.ndarray:
    return np.stack(
        [dataset.get_data_info(i)['img'] for i in range(len(dataset))])


@pytest.fixture(scope='module')
def splits():
    return Digits(split='train'), Digits(split='test')


def test_default_split_sizes_are_1347_train_and_450_test(splits):
    train, test = splits
    assert (len(train), len(test)) == (1347, 450)


@pytest.mark.parametrize('test_size, sizes', [(0.2, (1437, 360)),
                                              (100, (1697, 100))])
def test_test_size_sets_exact_sizes_as_fraction_or_count(test_size, sizes):
    train = Digits(split='train', test_size=test_size)
    test = Digits(split='test', test_size=test_size)
    assert (len(train), len(test)) == sizes


def test_splits_partition_all_1797_digits(splits):
    train, test = splits
    train_idx, test_idx = source_indices(train), source_indices(test)
    assert len(set(train_idx)) == len(train_idx)
    assert len(set(test_idx)) == len(test_idx)
    assert not set(train_idx) & set(test_idx)
    assert sorted(np.concatenate([train_idx, test_idx])) == list(range(1797))


def pil_bilinear_32x32(digit: np.ndarray) -> np.ndarray:
    """An independent reference: PIL's bilinear resize of the uint8 digit."""
    from PIL import Image
    small = np.rint(digit * 255 / 16).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((32, 32), Image.BILINEAR))


def test_items_are_bilinear_resized_source_digits_with_their_labels(splits):
    from sklearn.datasets import load_digits
    digits = load_digits()
    for dataset in splits:
        for i in (0, 7, len(dataset) - 1):
            info = dataset.get_data_info(i)
            index = info['source_index']
            assert info['gt_label'] == digits.target[index]
            reference = pil_bilinear_32x32(digits.images[index]).astype(int)
            assert np.abs(info['img'][..., 0] - reference).max() <= 1


def test_every_class_in_both_splits_in_stratified_proportion(splits):
    train, test = splits
    train_counts = np.bincount(train.get_gt_labels(), minlength=NUM_CLASSES)
    test_counts = np.bincount(test.get_gt_labels(), minlength=NUM_CLASSES)
    totals = train_counts + test_counts
    assert (train_counts > 0).all() and (test_counts > 0).all()
    assert np.abs(test_counts - 0.25 * totals).max() <= 1
    assert np.abs(train_counts - 0.75 * totals).max() <= 1


def test_images_are_32x32x3_uint8_with_equal_channels(splits):
    imgs = images(splits[0])
    assert imgs.shape == (1347, 32, 32, 3)
    assert imgs.dtype == np.uint8
    assert (imgs[..., 0] == imgs[..., 1]).all()
    assert (imgs[..., 0] == imgs[..., 2]).all()
    assert imgs.min() == 0 and imgs.max() == 255


def test_native_size_is_the_source_digits_exactly():
    from sklearn.datasets import load_digits
    digits = load_digits()
    dataset = Digits(split='test', image_size=8)
    for i in (0, 7, len(dataset) - 1):
        info = dataset.get_data_info(i)
        expected = np.rint(digits.images[info['source_index']] * 255 /
                           16).astype(np.uint8)
        np.testing.assert_array_equal(info['img'][..., 2], expected)


@pytest.mark.parametrize('size', [8, 16])
def test_smaller_sizes_keep_the_split_and_labels(splits, size):
    small = Digits(split='train', image_size=size)
    assert images(small).shape == (1347, size, size, 3)
    np.testing.assert_array_equal(
        source_indices(small), source_indices(splits[0]))
    assert small.get_gt_labels().tolist() == splits[0].get_gt_labels().tolist()


def test_an_unsupported_size_names_the_value():
    with pytest.raises(
            ValueError, match=r'image_size=12 must be one of \(8, 16, 32\)'):
        Digits(image_size=12)


def test_same_arguments_give_identical_data():
    first = Digits(split='test', seed=3)
    second = Digits(split='test', seed=3)
    np.testing.assert_array_equal(
        source_indices(first), source_indices(second))
    np.testing.assert_array_equal(images(first), images(second))
    np.testing.assert_array_equal(first.get_gt_labels(),
                                  second.get_gt_labels())


def test_data_and_split_are_pinned_across_machines():
    """The conversion is exact arithmetic and the split is scikit-learn's
    seeded one; these digests change only if either changes."""
    all_imgs, _ = digits_module._digits()
    test_idx = digits_module._split_indices(0.25, 0)['test']
    assert test_idx[:8].tolist() == [
        1364, 1579, 1023, 1176, 1151, 312, 307, 454
    ]
    assert hashlib.sha256(test_idx.astype('<i8').tobytes()).hexdigest() == (
        'c5f4eb8f9b9900ba192d0d6144e3b6ede4f6c7a6b5df902cca12b6e99504b0a7')
    assert hashlib.sha256(all_imgs.tobytes()).hexdigest() == (
        '584de9eba0ee1fbdb09a5fcf7e28aa9d0faf43f2d3c6f18a6d9a26126569a680')


def test_another_seed_gives_another_split_of_the_same_sizes(splits):
    other = Digits(split='test', seed=1)
    assert len(other) == len(splits[1])
    assert set(source_indices(other)) != set(source_indices(splits[1]))


def test_items_do_not_share_memory_with_the_cache():
    dataset = Digits(split='test', serialize_data=False)
    dataset.get_data_info(0)['img'][:] = 7
    fresh = Digits(split='test', serialize_data=False)
    assert not (fresh.get_data_info(0)['img'] == 7).all()


def test_builds_from_config_with_cifar_pipeline():
    from mmunix.registry import DATASETS
    from mmunix.utils import register_all_modules
    register_all_modules()
    dataset = DATASETS.build(
        dict(
            type='Digits',
            split='train',
            data_root='ignored',
            pipeline=[
                dict(type='RandomCrop', crop_size=32, padding=4),
                dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                dict(type='PackInputs'),
            ]))
    assert isinstance(dataset, Digits)
    assert dataset.metainfo['classes'] == tuple('0123456789')
    sample = dataset[0]
    assert isinstance(sample['inputs'], torch.Tensor)
    assert sample['inputs'].shape == (3, 32, 32)
    assert sample['inputs'].dtype == torch.uint8
    assert sample['data_samples'].gt_label.item() == \
        dataset.get_data_info(0)['gt_label']


def test_invalid_split_is_an_error_naming_the_value():
    with pytest.raises(ValueError, match=r"split='val'.*'train', 'test'"):
        Digits(split='val')


@pytest.mark.parametrize('test_size', [0, 1.0, 1.5, 5, 1790, -0.1, '0.25'])
def test_invalid_test_size_is_an_error_naming_the_value(test_size):
    with pytest.raises(ValueError, match=f'test_size={test_size!r}'):
        Digits(test_size=test_size)


def test_seed_none_is_an_error_since_the_split_must_be_reproducible():
    with pytest.raises(ValueError, match='seed=None'):
        Digits(seed=None)


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    digits_module._digits.cache_clear()
    digits_module._split_indices.cache_clear()
    monkeypatch.setitem(sys.modules, 'sklearn.datasets', None)
    try:
        with pytest.raises(ImportError, match='pip install scikit-learn'):
            Digits(split='train')
    finally:
        monkeypatch.undo()
    assert len(Digits(split='test')) == 450


def test_scikit_learn_is_imported_only_when_a_dataset_is_built():
    tree = ast.parse(inspect.getsource(digits_module))
    top_level_imports = [
        alias.name if isinstance(node, ast.Import) else node.module
        for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in getattr(node, 'names', [])
    ]
    assert not any(name.startswith('sklearn') for name in top_level_imports)
