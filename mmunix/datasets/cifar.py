"""CIFAR-100 that fails fast and clearly when the files are not there."""
import os.path as osp
import pickle

import numpy as np
from mmengine.dist import barrier, is_main_process
from mmpretrain.datasets import CIFAR100 as MMPretrainCIFAR100
from mmpretrain.datasets.utils import check_md5, download_and_extract_archive

from mmunix.engine.checkpoint_safety import numpy_array_globals
from mmunix.registry import DATASETS


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays, nothing that runs code.

    A CIFAR file is a pickle. With ``check_md5=False`` nothing vouches for
    its content, and ``pickle.load`` would run whatever it asks for.
    """

    def find_class(self, module: str, name: str):
        # Pickle protocol 2 from Python 3 writes bytes as _codecs.encode(str,
        # 'latin1'); torch's weights-only unpickler allows it too.
        if (module, name) == ('_codecs', 'encode'):
            return super().find_class(module, name)
        if module.split('.')[0] == 'numpy':
            found = super().find_class(module, name)
            if any(found is allowed for allowed in numpy_array_globals()):
                return found
        raise pickle.UnpicklingError(
            f'{module}.{name} is not allowed in a CIFAR file: it holds only '
            'lists, strings, bytes and NumPy arrays')


def load_cifar_pickle(path: str) -> dict:
    """One file of the CIFAR python format, read without running code."""
    with open(path, 'rb') as f:
        try:
            return _ArrayUnpickler(f, encoding='latin1').load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f'{path}: {error}') from None


@DATASETS.register_module()
class CIFAR100(MMPretrainCIFAR100):
    """CIFAR-100 from ``<data_root>/cifar-100-python/``.

    mmpretrain's version md5-checks the files and, when the check fails,
    downloads the archive. Offline that hangs for minutes before a
    ``URLError``, and it rules out users' own data in the CIFAR pickle format
    (``data`` uint8 of shape ``(N, 3072)``, ``fine_labels``). This version:

    - does not download unless ``download=True`` is asked for;
    - names the missing or corrupt files and says how to get them;
    - can skip the md5 check (``check_md5=False``) for own CIFAR-format data;
    - unpickles the files allowing only NumPy arrays, since without the md5
      check nothing else vouches for them;
    - computes each md5 once (mmpretrain's version computes it three times).

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

    def load_data_list(self) -> list:
        """``dict(img=(32, 32, 3) uint8 array, gt_label=int)`` per sample."""
        root = self.data_prefix['root']
        problems = self._problems()
        if problems and self.download:
            if is_main_process():
                download_and_extract_archive(
                    self.url, root, filename=self.filename, md5=self.tgz_md5)
            barrier()
            problems = self._problems()
        if problems:
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

        files = self.train_list if self.split == 'train' else self.test_list
        entries = [
            load_cifar_pickle(osp.join(root, self.base_folder, name))
            for name, _ in files
        ]
        images = np.vstack([entry['data'] for entry in entries]).reshape(
            -1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = [label for entry in entries for label in entry['fine_labels']]
        if self.CLASSES is None:
            meta = load_cifar_pickle(
                osp.join(root, self.base_folder, self.meta['filename']))
            self._metainfo.setdefault('classes', meta[self.meta['key']])
        return [
            dict(img=image, gt_label=int(label))
            for image, label in zip(images, labels)
        ]
