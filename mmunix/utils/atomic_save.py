"""Write a checkpoint so that it is either complete or absent."""
import os
import os.path as osp

import torch


def save_atomically(checkpoint: dict, path: str) -> None:
    """``torch.save`` into ``path.partial``, then rename it to ``path``.

    A killed or failing write leaves no half-written ``path`` that a later
    ``load_from`` or ``teacher_ckpt`` would trip over; the rename is atomic
    on one file system.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    partial = path + '.partial'
    try:
        torch.save(checkpoint, partial)
        os.replace(partial, path)
    finally:
        if osp.exists(partial):
            os.remove(partial)
