"""CIFAR-100 that fails fast and clearly when the files are not there."""
import os.path as osp

from mmpretrain.datasets import CIFAR100 as MMPretrainCIFAR100
from mmpretrain.datasets.utils import check_md5

from mmunix.registry import DATASETS


@DATASETS.register_module()
class CIFAR100(MMPretrainCIFAR100):
    """CIFAR-100 from ``<data_root>/cifar-100-python/``.

    mmpretrain's version md5-checks the files and, when the check fails,
    downloads the archive. Offline that hangs for minutes before a
    ``URLError``, and it rules out users' own data in the CIFAR pickle format
    (``data`` uint8 of shape ``(N, 3072)``, ``fine_labels``). This version:

    - does not download unless ``download=True`` is asked for;
    - names the missing or corrupt files and says how to get them;
    - can skip the md5 check (``check_md5=False``) for own CIFAR-format data.

    Args:
        data_root (str): Folder that contains ``cifar-100-python/``.
        split (str): ``'train'`` or ``'test'``.
        download (bool): Download the archive when files are missing.
            Defaults to False.
        check_md5 (bool): Verify the files against the official checksums.
            Defaults to True.
        **kwargs: Passed to mmpretrain's ``CIFAR100``.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 download: bool = False,
                 check_md5: bool = True,
                 **kwargs):
        self.check_md5 = check_md5
        super().__init__(
            data_root=data_root, split=split, download=download, **kwargs)

    def _problems(self) -> list:
        """Human-readable reasons why the files cannot be used."""
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        problems = []
        for name, md5 in self.train_list + self.test_list:
            path = osp.join(folder, name)
            if not osp.isfile(path):
                problems.append(f'missing {path}')
            elif self.check_md5 and not check_md5(path, md5):
                problems.append(f'{path} fails its md5 check')
        return problems

    def _check_integrity(self) -> bool:
        return not self._problems()

    def load_data_list(self) -> list:
        problems = self._problems()
        if problems and not self.download:
            root = self.data_prefix['root']
            hint = ('If this is your own CIFAR-format data, set '
                    '`check_md5=False` on the dataset (e.g. --cfg-options '
                    'train_dataloader.dataset.check_md5=False '
                    'val_dataloader.dataset.check_md5=False).'
                    if any('md5' in p for p in problems) else
                    f'Download {self.url}, extract it into {root!r} so that '
                    f'{osp.join(root, self.base_folder, "train")!r} exists, '
                    'or set `download=True` on a machine with internet.')
            raise FileNotFoundError(
                f'CIFAR-100 ({self.split} split) cannot be loaded from '
                f'data_root={root!r}:\n  ' + '\n  '.join(problems) + '\n' +
                hint)
        return super().load_data_list()
