"""CIFAR-100 that fails fast and clearly when the files are not there or are
not in the CIFAR format."""
import hashlib
import io
import pickle
import warnings
from typing import Dict, Optional

import numpy as np
from mmengine import fileio
from mmengine.dist import barrier, is_main_process
from mmpretrain.datasets import CIFAR100 as MMPretrainCIFAR100
from mmpretrain.datasets.utils import download_and_extract_archive

from mmunix.registry import DATASETS

#: Bytes of one image in the CIFAR format: the red, green and blue 32x32
#: planes, one after the other.
IMAGE_BYTES = 3 * 32 * 32

#: Every global that pickles of CIFAR files, written by NumPy 1 or 2 with
#: pickle protocol 0 to 5, ask for. ``numpy.core`` is NumPy 1's name of
#: ``numpy._core``; the official archive uses it. Unlike the checkpoint set
#: (``checkpoint_safety.numpy_array_globals``) this needs ``_frombuffer``
#: and ``bytes``, which ``torch.save`` (protocol 2, no empty bytes) never
#: writes, and no concrete dtype classes: only torch's weights-only
#: unpickler checks those, on each object whose state it sets.
CIFAR_PICKLE_GLOBALS = frozenset([
    # Protocols 0 to 4 (and 5 for a non-contiguous array) rebuild an array
    # as _reconstruct(ndarray, ...) and set its dtype and buffer.
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', '_reconstruct'),
    # Protocol 5 rebuilds a contiguous array from an in-band buffer.
    ('numpy._core.numeric', '_frombuffer'),
    ('numpy.core.numeric', '_frombuffer'),
    # A NumPy integer, e.g. the labels of a file written with list(array).
    ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.multiarray', 'scalar'),
    # Protocols 0 to 2 write bytes as _codecs.encode(str, 'latin1'), and
    # b'' (the buffer of an empty array) as __builtin__.bytes().
    ('_codecs', 'encode'),
    ('__builtin__', 'bytes'),
])


class _RefusedGlobal(pickle.UnpicklingError):
    """A global outside :data:`CIFAR_PICKLE_GLOBALS`: kept apart from the
    errors of damaged files, as its message names what was refused."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays, nothing that runs code.

    A CIFAR file is a pickle. With ``check_md5=False`` nothing vouches for its
    content, and ``pickle.load`` would run whatever it asks for. Only the
    globals of :data:`CIFAR_PICKLE_GLOBALS` are looked up, so nothing else is
    even imported.
    """

    def find_class(self, module: str, name: str):
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise _RefusedGlobal(
                f'{module}.{name} is not allowed in a CIFAR file, which may '
                'hold only dicts, lists, strings, numbers, bytes and NumPy '
                'arrays; unpickling it could run code')
        with warnings.catch_warnings():
            # NumPy 2 still resolves NumPy 1's numpy.core.numeric, with a
            # DeprecationWarning meant for code: a file cannot act on it.
            warnings.simplefilter('ignore', DeprecationWarning)
            return super().find_class(module, name)


def load_cifar_pickle(path: str, backend_args: Optional[dict] = None):
    """One file of the CIFAR python format, read without running code.

    Args:
        path (str): A local path or a URI of any ``mmengine.fileio``
            backend (``s3://``, ...).
        backend_args (dict, optional): Passed to ``mmengine.fileio``.

    Raises:
        pickle.UnpicklingError: The file asks for a global that is not
            allowed, ends early, or is no pickle at all. Each message names
            ``path``; the unpickler's own, e.g. "the STRING opcode argument
            must be quoted" for random bytes, would not say what is wrong.
    """
    return unpickle_cifar(fileio.get(path, backend_args=backend_args), path)


def unpickle_cifar(data: bytes, path: str):
    """The object pickled in ``data`` (read from ``path``), allowing only the
    globals of :data:`CIFAR_PICKLE_GLOBALS`."""
    with io.BytesIO(data) as f:
        try:
            return _ArrayUnpickler(f, encoding='latin1').load()
        except _RefusedGlobal as error:
            raise pickle.UnpicklingError(f'{path}: {error}') from None
        except EOFError:
            raise pickle.UnpicklingError(
                f'{path}: the file ends before its pickle does (empty or '
                'truncated)') from None
        # Bytes that are no pickle make the unpickler fail with any of
        # UnpicklingError, ValueError, OverflowError, UnicodeDecodeError,
        # MemoryError (a huge length), TypeError (bad arguments to
        # _reconstruct), ...: each says only what broke.
        except Exception as error:
            detail, name = str(error).strip(), type(error).__name__
            if not detail:
                detail = name
            elif not isinstance(error, pickle.UnpicklingError):
                detail = f'{name}: {detail}'
            raise pickle.UnpicklingError(
                f'{path} is not a readable CIFAR pickle (damaged, or not in '
                f'the CIFAR python format): {detail}') from None


def _label_array(labels):
    """``labels`` as an array, or None if they do not even form one."""
    try:
        return np.asarray(labels)
    except ValueError:  # ragged nested lists
        return None


def cifar_file_problems(entry, split: str, num_classes: int) -> list:
    """What keeps one unpickled CIFAR file from being a usable ``split``.

    A usable file is a dict with ``data``, a uint8 array ``(N, 3072)`` with
    ``N > 0``, and ``fine_labels``, ``N`` integers in ``0..num_classes-1``.
    Anything else would be reshaped into scrambled images, paired with the
    wrong labels, or scored against classes the model does not have.

    Returns:
        list[str]: One sentence per problem, empty if the file is usable.
    """
    if not isinstance(entry, dict):
        return [
            f"holds a {type(entry).__name__}, not a dict with 'data' and "
            "'fine_labels'"
        ]
    missing = [key for key in ('data', 'fine_labels') if key not in entry]
    if missing:
        return [f'has no {key!r}' for key in missing]

    problems = []
    data = entry['data']
    num_images = None
    if not isinstance(data, np.ndarray):
        problems.append(
            f"'data' is a {type(data).__name__}, not a NumPy array")
    else:
        if data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
            problems.append(
                f"'data' has shape {data.shape}, not (N, {IMAGE_BYTES}): "
                'one row of 3 x 32 x 32 bytes per image')
        else:
            num_images = len(data)
        if data.dtype != np.uint8:
            problems.append(f"'data' is {data.dtype}, not uint8")
        if num_images == 0:
            problems.append(
                f"'data' holds no images: the {split} split would be empty")

    labels = _label_array(entry['fine_labels'])
    if labels is None or labels.ndim != 1:
        shape = '' if labels is None else f' (shape {labels.shape})'
        problems.append(f"'fine_labels' is not a flat list{shape}")
        return problems
    if num_images is not None and len(labels) != num_images:
        problems.append(f"'fine_labels' has {len(labels)} labels for "
                        f"{num_images} images in 'data'")
    if labels.size and labels.dtype.kind not in 'iu':
        problems.append(
            f"'fine_labels' holds {labels.dtype} values, not integers")
        return problems
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.size:
        values = np.unique(outside)
        examples = [str(value) for value in values[:3]]
        if values.size > 3:
            examples.append('...')
        problems.append(
            f"{outside.size} of the {labels.size} 'fine_labels' are outside "
            f'0..{num_classes - 1}, the {num_classes} classes in the '
            f"dataset's metainfo['classes']: {', '.join(examples)}")
    return problems


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
    - refuses, when it is built, a split whose ``data`` is not uint8 of
      shape ``(N, 3072)`` with ``N > 0``, or whose ``fine_labels`` are not
      ``N`` integers in ``0..len(metainfo['classes']) - 1``, naming each
      file and what is wrong (see :func:`cifar_file_problems`);
    - reads each file once, for its md5 and its content, through
      ``mmengine.fileio`` with ``backend_args`` (local files, ``s3://``,
      ``petrel://`` and any registered backend; downloading only to local
      folders);

    Args:
        data_root (str): Folder that contains ``cifar-100-python/``.
        split (str): ``'train'`` or ``'test'``.
        download (bool): Download the archive when files are missing.
            Defaults to False.
        check_md5 (bool): Verify the files against the official checksums.
            Defaults to True.
        backend_args (dict, optional): Arguments of the ``mmengine.fileio``
            backend that reads the files, as in mmpretrain's datasets.
            Defaults to None (the backend is chosen by ``data_root``'s
            prefix).
        **kwargs: Passed to mmpretrain's ``CIFAR100``.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 download: bool = False,
                 check_md5: bool = True,
                 backend_args: Optional[dict] = None,
                 **kwargs):
        self.check_md5 = check_md5
        self.backend_args = backend_args
        # The bytes read for the md5 check, kept for unpickling.
        self._read: Dict[str, bytes] = {}
        super().__init__(
            data_root=data_root, split=split, download=download, **kwargs)

    def _path(self, name: str) -> str:
        return fileio.join_path(
            self.data_prefix['root'],
            self.base_folder,
            name,
            backend_args=self.backend_args)

    def _get(self, path: str) -> bytes:
        if path not in self._read:
            self._read[path] = fileio.get(path, backend_args=self.backend_args)
        return self._read[path]

    def _problems(self) -> list:
        """Human-readable reasons why the files cannot be used."""
        problems = []
        for name, md5 in self.train_list + self.test_list:
            path = self._path(name)
            if not fileio.exists(path, backend_args=self.backend_args):
                problems.append(f'missing {path}')
            elif self.check_md5 and hashlib.md5(
                    self._get(path)).hexdigest() != md5:
                problems.append(f'{path} fails its md5 check')
        return problems

    def load_data_list(self) -> list:
        """``dict(img=(32, 32, 3) uint8 array, gt_label=int)`` per sample."""
        try:
            return self._load_data_list()
        finally:
            self._read.clear()

    def _load_data_list(self) -> list:
        root = self.data_prefix['root']
        problems = self._problems()
        local = isinstance(
            fileio.get_file_backend(root, backend_args=self.backend_args),
            fileio.LocalBackend)
        if problems and self.download and local:
            if is_main_process():
                download_and_extract_archive(
                    self.url, root, filename=self.filename, md5=self.tgz_md5)
            barrier()
            self._read.clear()
            problems = self._problems()
        if problems:
            hint = ('If this is your own CIFAR-format data, set '
                    '`check_md5=False` on the dataset (e.g. --cfg-options '
                    'train_dataloader.dataset.check_md5=False '
                    'val_dataloader.dataset.check_md5=False).' if any(
                        'md5' in p for p in problems) else
                    f'Download {self.url}, extract it into {root!r} so that '
                    f'{self._path("train")!r} exists, '
                    'or set `download=True` on a machine with internet.')
            raise FileNotFoundError(
                f'CIFAR-100 ({self.split} split) cannot be loaded from '
                f'data_root={root!r}:\n  ' + '\n  '.join(problems) + '\n' +
                hint)

        files = self.train_list if self.split == 'train' else self.test_list
        entries = {
            self._path(name):
            unpickle_cifar(self._get(self._path(name)), self._path(name))
            for name, _ in files
        }
        if self.CLASSES is None:
            path = self._path(self.meta['filename'])
            meta = unpickle_cifar(self._get(path), path)
            self._metainfo.setdefault('classes', meta[self.meta['key']])
        num_classes = len(self.CLASSES)
        problems = [
            f'{path}: {problem}' for path, entry in entries.items()
            for problem in cifar_file_problems(entry, self.split, num_classes)
        ]
        if problems:
            raise ValueError(
                f'CIFAR-100 ({self.split} split) from '
                f'data_root={self.data_root!r} is not in the CIFAR format '
                f"('data': uint8 of shape (N, {IMAGE_BYTES}) with N > 0, "
                f"'fine_labels': N integers in 0..{num_classes - 1}):\n  " +
                '\n  '.join(problems))

        images = np.concatenate([entry['data'] for entry in entries.values()])
        images = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.concatenate([
            np.asarray(entry['fine_labels'], dtype=np.int64)
            for entry in entries.values()
        ])
        return [
            dict(img=image, gt_label=int(label))
            for image, label in zip(images, labels)
        ]
