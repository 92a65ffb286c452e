"""mmpretrain's classification preprocessing without host waits."""
from typing import Optional

import torch
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample, cat_batch_labels

from mmunix.registry import MODELS
from mmunix.utils.host_sync import copy_to_device


@MODELS.register_module()
class DeviceClsDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` whose copies of images and labels
    to the device do not make the host wait, with optional batch augmentation
    on the device.

    mmpretrain's version copies the labels with a blocking ``.to(device)``,
    which on CUDA stalls the host once per iteration until the GPU has
    caught up. Here the images are copied with ``non_blocking=True`` (from
    the pinned memory of a ``pin_memory=True`` dataloader), and the
    ``gt_label``\\ s of the batch are concatenated and copied in one
    non-blocking transfer before mmpretrain's preprocessing runs (soft
    ``gt_score`` labels keep mmpretrain's copy). The inputs and labels that
    reach the model are the same as with ``ClsDataPreprocessor``.

    Feed it batches stacked by ``collate_fn=dict(type='default_collate')``:
    one copy for the whole batch instead of one per image (MMEngine's
    default ``pseudo_collate`` still works).

    Args:
        train_augment (dict, optional): A batch augmentation applied on the
            device in training only, to the raw ``(N, C, H, W)`` pixels
            before normalisation, e.g. ``dict(type='BatchRandomCropFlip',
            padding=4)`` in place of the ``RandomCrop`` and ``RandomFlip`` of
            the train pipeline. Needs stacked batches (``default_collate``).
            Defaults to None.
        **kwargs: Passed to ``ClsDataPreprocessor`` (``mean``, ``std``,
            ``to_rgb``, ``num_classes``, ``batch_augments``...).
    """

    def __init__(self, train_augment: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        # ClsDataPreprocessor takes no `non_blocking` to pass on to
        # BaseDataPreprocessor, which cast_data reads.
        self._non_blocking = True
        self.train_augment = None
        if train_augment is not None:
            try:
                self.train_augment = MODELS.build(train_augment)
            except (KeyError, TypeError, ValueError) as error:
                raise type(error)(
                    f'data_preprocessor.train_augment: {error}') from error

    def forward(self, data: dict, training: bool = False) -> dict:
        """Copy ``data`` to the device, augment it in training, then run
        mmpretrain's normalisation, padding and label handling.

        Args:
            data (dict): ``inputs``, a ``(N, C, H, W)`` uint8 tensor (or a
                list of ``(C, H, W)`` tensors from ``pseudo_collate``), and
                ``data_samples``, ``N`` ``DataSample``\\ s.
            training (bool): Whether to apply ``train_augment``.

        Returns:
            dict: ``inputs`` as ``(N, C, H, W)`` float32, normalised, and the
            data samples with their labels on the device.
        """
        inputs = self.cast_data(data['inputs'])
        if training and self.train_augment is not None:
            if not isinstance(inputs, torch.Tensor):
                raise TypeError(
                    'data_preprocessor.train_augment needs stacked batches: '
                    'set train_dataloader.collate_fn=dict(type='
                    "'default_collate')")
            inputs = self.train_augment(inputs)
        data_samples = data.get('data_samples')
        self._labels_to_device(data_samples)
        if self._labels_need_mmpretrain(data_samples):
            return super().forward(dict(data, inputs=inputs), training)
        # The labels are where mmpretrain would put them: spare its second
        # pass over the samples, which costs the host as much again.
        return dict(
            super().forward(dict(inputs=inputs), training),
            data_samples=data_samples)

    def _labels_need_mmpretrain(self, data_samples: Optional[list]) -> bool:
        """Whether mmpretrain's preprocessing does more with the labels than
        put them on the device: soft scores, one-hot labels or
        ``batch_augments``."""
        return bool(data_samples) and isinstance(
            data_samples[0],
            DataSample) and ('gt_score' in data_samples[0] or self.to_onehot
                             or self.batch_augments is not None)

    def _labels_to_device(self, data_samples: Optional[list]) -> None:
        """Move every sample's ``gt_label`` to the device in one copy that the
        host does not wait for."""
        if not data_samples or not isinstance(data_samples[0], DataSample) \
                or 'gt_label' not in data_samples[0]:
            return
        labels, splits = cat_batch_labels(
            [sample.gt_label for sample in data_samples])
        labels = copy_to_device(labels, self.device)
        for sample, label in zip(data_samples,
                                 torch.tensor_split(labels, splits)):
            sample.set_gt_label(label)
