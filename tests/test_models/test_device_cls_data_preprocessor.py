"""DeviceClsDataPreprocessor gives what mmpretrain's ClsDataPreprocessor gives,
and augments on the device only in training."""
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample

from mmunix.models.data_preprocessors import DeviceClsDataPreprocessor
from mmunix.utils import register_all_modules

NORM = dict(mean=[10., 20., 30.], std=[2., 4., 8.], num_classes=5)


def batch(collate, scores=False):
    torch.manual_seed(0)
    samples = []
    for i in range(6):
        sample = DataSample().set_gt_label(i % 5)
        if scores:
            sample.set_gt_score(torch.softmax(torch.randn(5), 0))
        samples.append(
            dict(
                inputs=torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8),
                data_samples=sample))
    return collate(samples)


def processed(preprocessor, data, training=True):
    np.random.seed(1)  # Mixup's lambda
    torch.manual_seed(1)
    out = preprocessor(data, training)
    samples = out['data_samples']
    return out['inputs'], [{
        key: sample.get(key)
        for key in ('gt_label', 'gt_score')
    } for sample in samples]


@pytest.mark.parametrize('collate', [default_collate, pseudo_collate])
@pytest.mark.parametrize('settings,scores', [
    (dict(), False),
    (dict(), True),
    (dict(to_rgb=True, to_onehot=True), False),
    (dict(batch_augments=dict(augments=dict(type='Mixup', alpha=1.))), False),
])
def test_reaches_the_model_exactly_as_mmpretrains(collate, settings, scores):
    register_all_modules()
    ours = processed(
        DeviceClsDataPreprocessor(**NORM, **settings), batch(collate, scores))
    theirs = processed(
        ClsDataPreprocessor(**NORM, **settings), batch(collate, scores))
    assert torch.equal(ours[0], theirs[0])
    for mine, expected in zip(ours[1], theirs[1]):
        for key in ('gt_label', 'gt_score'):
            assert (mine[key] is None) == (expected[key] is None)
            if mine[key] is not None:
                assert torch.equal(mine[key], expected[key])


def test_train_augment_runs_in_training_only_before_normalisation():
    register_all_modules()
    preprocessor = DeviceClsDataPreprocessor(
        mean=[0.],
        std=[1.],
        train_augment=dict(
            type='BatchRandomCropFlip', padding=1, flip_prob=0.))
    images = torch.full((2, 1, 3, 3), 5, dtype=torch.uint8)
    plain = preprocessor(dict(inputs=images), training=False)['inputs']
    assert plain.eq(5).all()
    # The zero padding is a raw black pixel (0 before normalisation).
    torch.manual_seed(0)
    augmented = [
        preprocessor(dict(inputs=images), training=True)['inputs']
        for _ in range(20)
    ]
    assert all(set(a.unique().tolist()) <= {0., 5.} for a in augmented)
    assert any(a.eq(0).any() for a in augmented)


def test_train_augment_needs_stacked_batches():
    register_all_modules()
    preprocessor = DeviceClsDataPreprocessor(
        **NORM, train_augment=dict(type='BatchRandomCropFlip'))
    with pytest.raises(
            TypeError, match='collate_fn=dict\\(type='
            "'default_collate'\\)"):
        preprocessor(batch(pseudo_collate), training=True)


@pytest.mark.parametrize('augment,error,message', [
    (dict(type='BatchRandomCrop'), KeyError, 'BatchRandomCrop'),
    (dict(type='BatchRandomCropFlip',
          flip_prob=True), ValueError, 'flip_prob=True'),
])
def test_a_bad_train_augment_names_the_key(augment, error, message):
    register_all_modules()
    with pytest.raises(
            error, match=f'data_preprocessor.train_augment: .*'
            f'{message}'):
        DeviceClsDataPreprocessor(**NORM, train_augment=augment)


def test_copies_do_not_block():
    # BaseDataPreprocessor.cast_data reads it for the images.
    assert DeviceClsDataPreprocessor(**NORM)._non_blocking is True
