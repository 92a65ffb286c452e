"""Count, per epoch, how often UNIX picks each training sample as hard."""
import io
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.dataset import ConcatDataset
from mmengine.dist import all_reduce, is_main_process
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from mmunix.registry import HOOKS
from mmunix.utils.atomic_save import write_atomically
from mmunix.utils.host_sync import copy_to_device
from .utils import get_distiller


@HOOKS.register_module()
class HardSampleHook(Hook):
    """Save per-epoch counts of the hard samples UNIX mines (step 8 of the
    training step in docs/algorithm.md).

    After each training iteration the distiller's ``hard_positions`` name the
    ``b`` clean, most uncertain samples of the batch. The hook maps them to
    dataset indices through each data sample's ``sample_idx``, which
    mmengine's ``BaseDataset`` sets to the index the sampler drew and
    mmpretrain's ``PackInputs`` keeps, and adds them up. At the end of each
    epoch it sums the counts over all processes, and the main process writes
    ``epoch_{E}.npy``: an ``np.int64`` vector of length
    ``len(train_dataloader.dataset)``, entry ``i`` being how often sample
    ``i`` was selected in epoch ``E`` (1-based, as in ``epoch_{E}.pth``).
    ``tools/analysis_tools/plot_hard_samples.py`` plots them.

    Under conventional KD there are no hard samples: the hook warns once and
    writes nothing.

    Note:
        Resume. Nothing goes into checkpoints: finished epochs are on disk.
        MMEngine's ``EpochBasedTrainLoop`` re-runs an epoch interrupted by an
        iteration checkpoint from its first batch, so the resumed epoch is
        counted in full. An epoch whose count of iterations is not one full
        pass of the train dataloader (a loop that skips batches already
        trained) is not saved: the hook warns instead of writing a
        half-counted file. ``IterBasedTrainLoop`` has no epochs and is
        refused.

    Note:
        Dataset wrappers. ``sample_idx`` indexes the innermost dataset, so
        under ``RepeatDataset`` or ``ClassBalancedDataset`` the counts are per
        original image (the vector's tail beyond it stays 0). The parts of a
        ``ConcatDataset`` would share indices, so it is refused.

    Args:
        out_dir (str, optional): Folder for the ``.npy`` files. Defaults to
            ``<work_dir>/hard_samples``.
    """

    def __init__(self, out_dir: Optional[str] = None):
        self.out_dir = out_dir
        self._counts: Optional[torch.Tensor] = None
        self._dataset_size = 0
        self._iters = 0
        self._counted_iters = 0
        self._warned_kd = False

    @staticmethod
    def _distiller(runner):
        return get_distiller(runner, 'HardSampleHook', 'hard_positions')

    def before_train(self, runner) -> None:
        self._distiller(runner)
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            raise ValueError(
                'HardSampleHook counts per epoch and needs an epoch-based '
                'train loop: set train_cfg.by_epoch=True or remove the hook '
                'from custom_hooks')
        if isinstance(runner.train_dataloader.dataset, ConcatDataset):
            raise ValueError(
                'HardSampleHook counts by sample_idx, which restarts at 0 in '
                'every part of a ConcatDataset: train_dataloader.dataset '
                'must not be one while the hook is in custom_hooks')
        if self.out_dir is None:
            self.out_dir = osp.join(runner.work_dir, 'hard_samples')

    def before_train_epoch(self, runner) -> None:
        self._dataset_size = len(runner.train_dataloader.dataset)
        self._counts = None  # made on the device of the first positions
        self._iters = 0
        self._counted_iters = 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._iters += 1
        positions = self._distiller(runner).hard_positions
        if positions is None:
            if not self._warned_kd:
                runner.logger.warning(
                    'HardSampleHook: the distiller reports no hard samples '
                    '(conventional KD has none); nothing will be counted')
                self._warned_kd = True
            return
        samples = data_batch['data_samples']
        try:
            indices = [sample.sample_idx for sample in samples]
        except AttributeError as error:
            raise KeyError(
                'HardSampleHook needs sample_idx in the metainfo of every '
                "data sample: keep 'sample_idx' in the meta_keys of the "
                'PackInputs of train_dataloader.dataset.pipeline') from error
        if indices and max(indices) >= self._dataset_size:
            raise IndexError(
                f'HardSampleHook: sample_idx {max(indices)} is out of range '
                f'for a train dataset of {self._dataset_size} samples (a '
                'dataset wrapper whose sample_idx is not its own index?)')
        # Count on the positions' device: reading them on the host would
        # make it wait for the device every iteration.
        if self._counts is None:
            self._counts = torch.zeros(
                self._dataset_size, dtype=torch.int64, device=positions.device)
        indices = copy_to_device(torch.tensor(indices), positions.device)
        self._counts.index_add_(0, indices[positions],
                                torch.ones_like(indices[positions]))
        self._counted_iters += 1

    def after_train_epoch(self, runner) -> None:
        # Every process reaches this point with the same iteration counts,
        # so all of them take the same branch to the collective or past it.
        if self._counted_iters == 0:
            return
        epoch = runner.epoch + 1
        expected = len(runner.train_dataloader)
        if self._iters != expected:
            runner.logger.warning(
                f'HardSampleHook: epoch {epoch} ran {self._iters} of its '
                f'{expected} iterations in this process (resumed mid-epoch '
                f'by a loop that skips trained batches?); not writing a '
                f'half-counted epoch_{epoch}.npy')
            return
        all_reduce(self._counts, op='sum')
        if not is_main_process():
            return
        counts = self._counts.cpu().numpy()
        path = osp.join(self.out_dir, f'epoch_{epoch}.npy')
        buffer = io.BytesIO()
        np.save(buffer, counts)
        write_atomically(path, buffer.getvalue())
        runner.logger.info(
            f'HardSampleHook: epoch {epoch}: {int(counts.sum())} hard '
            f'selections of {int(np.count_nonzero(counts))} distinct '
            f'samples (of {len(counts)}), max frequency '
            f'{int(counts.max())}; wrote {path}')
