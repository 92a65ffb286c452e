"""Random images in the CIFAR-100 file format, for tests and speed runs."""
import os
import os.path as osp
import pickle

import numpy as np

NUM_CLASSES = 100


def write_synthetic_cifar100(data_root: str,
                             num_train: int = 16,
                             num_test: int = 8,
                             seed: int = 0) -> str:
    """Write uniformly random images in the CIFAR-100 pickle format.

    The layout is ``<data_root>/cifar-100-python/{train,test,meta}``, each a
    pickled dict as in the official archive: ``data`` uint8 ``(N, 3072)``
    (three 32x32 planes, R, G, B), ``fine_labels`` (sample ``i`` has class
    ``i % 100``), ``coarse_labels`` and ``filenames``. The md5 sums differ
    from the official ones, so datasets need ``check_md5=False``.

    Args:
        data_root (str): Folder to create ``cifar-100-python/`` in.
        num_train (int): Images in the train split. Defaults to 16.
        num_test (int): Images in the test split. Defaults to 8.
        seed (int): Seed of the pixels. Defaults to 0.

    Returns:
        str: ``data_root``.
    """
    rng = np.random.default_rng(seed)
    folder = osp.join(data_root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    for split, num in (('train', num_train), ('test', num_test)):
        entry = {
            'data': rng.integers(0, 256, (num, 3072), dtype=np.uint8),
            'fine_labels': [i % NUM_CLASSES for i in range(num)],
            'coarse_labels': [i % 20 for i in range(num)],
            'filenames': [f'{split}_{i}.png' for i in range(num)],
        }
        with open(osp.join(folder, split), 'wb') as f:
            pickle.dump(entry, f)
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump(
            {'fine_label_names': [f'class_{i}' for i in range(NUM_CLASSES)]},
            f)
    return data_root
