"""scikit-learn's handwritten digits as an offline, CIFAR-shaped dataset."""
import functools
from numbers import Integral, Real
from typing import Dict, List, Tuple, Union

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmunix.registry import DATASETS

NUM_DIGITS = 1797
IMAGE_SIZE = 32
#: Sizes whose bilinear weights from 8 pixels are multiples of 1/8: the
#: conversion is exact in float64, hence the same on every machine.
IMAGE_SIZES = (8, 16, 32)
_SOURCE_SIZE = 8
_SOURCE_MAX = 16  # pixel values of the source images are integers 0..16


def _bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Weights ``(size_out, size_in)`` of a 1-D bilinear resize.

    Pixel centres are aligned as in PIL, OpenCV and
    ``torch.nn.functional.interpolate(align_corners=False)``, and the border
    pixels are repeated. For 8 -> 16 or 32 every weight is a multiple of
    1/8, and 8 -> 8 is the identity.
    """
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    left = np.floor(centres).astype(int)
    right = np.minimum(left + 1, size_in - 1)
    frac = centres - left
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), left), 1 - frac)
    np.add.at(weights, (np.arange(size_out), right), frac)
    return weights


def _import_sklearn():
    """``(load_digits, train_test_split)``, or an ImportError that says how to
    install scikit-learn."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as err:
        raise ImportError(
            'The Digits dataset needs scikit-learn: `pip install '
            'scikit-learn` (or `pip install -e ".[demo]"` in the mmunix '
            'repository).') from err
    return load_digits, train_test_split


@functools.lru_cache(maxsize=len(IMAGE_SIZES))
def _digits(size: int = IMAGE_SIZE) -> Tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits at ``size`` x ``size``, converted once per process.

    Returns:
        tuple: Read-only images ``(1797, size, size, 3)`` uint8 in 0..255
        and labels ``(1797,)`` int64 in 0..9, in scikit-learn's order.
    """
    load_digits, _ = _import_sklearn()
    digits = load_digits()
    # Resize in the source's 0..16 units, then scale to 0..255 and round
    # once. The weights are multiples of 1/8 and the pixels are integers, so
    # every intermediate value is exact in float64: the result cannot depend
    # on the BLAS, the CPU or the summation order.
    weights = _bilinear_matrix(_SOURCE_SIZE, size)
    resized = weights @ digits.images @ weights.T  # (N, size, size)
    gray = np.rint(resized * (255 / _SOURCE_MAX)).astype(np.uint8)
    imgs = np.repeat(gray[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int64)
    imgs.flags.writeable = False
    labels.flags.writeable = False
    return imgs, labels


@functools.lru_cache(maxsize=None)
def _split_indices(test_size: Union[float, int],
                   seed: int) -> Dict[str, np.ndarray]:
    """Stratified source indices of the train and test splits."""
    _, train_test_split = _import_sklearn()
    _, labels = _digits()
    train, test = train_test_split(
        np.arange(NUM_DIGITS),
        test_size=test_size,
        stratify=labels,
        random_state=seed)
    train.flags.writeable = False
    test.flags.writeable = False
    return {'train': train, 'test': test}


@DATASETS.register_module()
class Digits(BaseDataset):
    """Handwritten digits from scikit-learn, shaped like CIFAR.

    A small, real dataset that needs no files and no network, for demos and
    tests. It is the test set of the UCI "Optical Recognition of Handwritten
    Digits" data (E. Alpaydin and C. Kaynak, 1998), as shipped by
    scikit-learn's :func:`sklearn.datasets.load_digits`: 1,797 grey 8x8
    images of the digits 0..9, about 180 per class, with pixel values 0..16.

    Each image is resized bilinearly to ``image_size`` (32x32 by default),
    scaled to uint8 0..255 and repeated over three channels, so CIFAR models
    and pipelines (``RandomCrop(32, padding=4)``, ``RandomFlip``,
    ``PackInputs``) run unchanged. A data item is ``{'img': (S, S, 3) uint8
    ndarray (HWC), 'gt_label': int, 'source_index': int}`` with
    ``S = image_size``; ``source_index`` is the image's index in
    ``load_digits()``. A smaller size trains the CIFAR networks many times
    faster: their cost grows with the number of pixels.

    The split is stratified, made by scikit-learn's ``train_test_split`` with
    ``random_state=seed``, so the same arguments give the same data on every
    run and machine (a test pins digests of the split and the images). The
    test split holds ``ceil(test_size * 1797)`` images, or ``test_size`` if
    it is an int: with the default 0.25, exactly **1,347 train and 450 test**
    images for every seed, 43..46 test images per class.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        test_size (float | int): Fraction of the 1,797 images (in ``(0, 1)``)
            or number of images that go to the test split. Defaults to 0.25.
        seed (int): Seed of the split. Defaults to 0.
        image_size (int): Side of the images, one of 8 (the source's), 16
            or 32. Defaults to 32.
        **kwargs: Passed to mmpretrain's :class:`BaseDataset` (``pipeline``,
            ``test_mode``, ``indices``, ...). ``data_root`` is accepted and
            not used.

    Note:
        Needs scikit-learn (``pip install scikit-learn``, or the ``demo``
        extra of mmunix). It is imported only when a dataset is built. The
        converted images are cached in memory per process; building a split
        takes well under a second once scikit-learn is imported.
    """

    METAINFO = {'classes': tuple(str(digit) for digit in range(10))}
    SPLITS = ('train', 'test')

    def __init__(self,
                 split: str = 'train',
                 test_size: Union[float, int] = 0.25,
                 seed: int = 0,
                 image_size: int = IMAGE_SIZE,
                 **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'Digits: split={split!r} is not one of '
                             f'{self.SPLITS}.')
        self._check_test_size(test_size)
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise ValueError(f'Digits: seed={seed!r} must be an int, so that '
                             'the split is reproducible.')
        if image_size not in IMAGE_SIZES:
            raise ValueError(f'Digits: image_size={image_size!r} must be one '
                             f'of {IMAGE_SIZES}.')
        self.split = split
        self.test_size = test_size
        self.seed = seed
        self.image_size = image_size
        super().__init__(ann_file='', **kwargs)

    @staticmethod
    def _check_test_size(test_size) -> None:
        """Raise ValueError unless ``test_size`` leaves both splits at least
        one image per class."""
        num_classes = 10
        if isinstance(test_size, Integral) and not isinstance(test_size, bool):
            ok = num_classes <= test_size <= NUM_DIGITS - num_classes
        elif isinstance(test_size, Real):
            ok = (
                num_classes <= test_size * NUM_DIGITS <=
                NUM_DIGITS - num_classes)
        else:
            ok = False
        if not ok:
            raise ValueError(
                f'Digits: test_size={test_size!r} must be a fraction in '
                f'(0, 1) or a number of images, leaving at least '
                f'{num_classes} images (one per class) in each split of '
                f'{NUM_DIGITS}.')

    def load_data_list(self) -> List[dict]:
        """Take this split's images and labels from the cached conversion."""
        all_imgs, all_labels = _digits(self.image_size)
        source_indices = _split_indices(self.test_size, self.seed)[self.split]
        imgs = all_imgs[source_indices]  # a copy: the cache stays intact
        return [{
            'img': img,
            'gt_label': int(all_labels[index]),
            'source_index': int(index),
        } for img, index in zip(imgs, source_indices)]

    def extra_repr(self) -> List[str]:
        """The split and its arguments."""
        return [
            f'Split: \t{self.split}',
            f'Test size: \t{self.test_size}',
            f'Seed: \t{self.seed}',
            f'Image size: \t{self.image_size}',
        ]
