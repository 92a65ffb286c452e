"""Write the student of a distillation checkpoint as a plain classifier.

The result has no teacher and no mmunix-specific keys: mmpretrain's
``ImageClassifier`` (and ``mmpretrain.apis``) load it with the student's own
model config, e.g. ``configs/_base_/models/cifar/resnet20.py``.

Usage::

    python tools/model_converters/extract_student.py \\
        work_dirs/unix_r56_r20_cifar100/epoch_240.pth \\
        work_dirs/unix_r56_r20_cifar100/student_r20.pth
"""
import argparse
import pickle

from mmunix.engine import load_from_local_weights_only
from mmunix.utils.atomic_save import save_atomically

PREFIX = 'student.'


def extract_student(checkpoint: dict) -> dict:
    """The student's ``state_dict`` and meta of a distiller checkpoint."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    student = {
        key[len(PREFIX):]: value
        for key, value in state_dict.items() if key.startswith(PREFIX)
    }
    if not student:
        raise ValueError('no "student." keys: this is not a checkpoint of '
                       'ClassificationDistiller')
    meta = {
        key: value
        for key, value in checkpoint.get('meta', {}).items()
        if key in ('dataset_meta', 'epoch', 'iter', 'mmengine_version')
    }
    return dict(meta=meta, state_dict=student)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='distillation checkpoint')
    parser.add_argument('dst', help='student checkpoint to write')
    args = parser.parse_args()

    try:
        student = extract_student(load_from_local_weights_only(args.src))
    # UnreadableCheckpointError is a ValueError.
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as error:
        raise SystemExit(f'extract_student: {args.src}: {error}\n'
                         f'Nothing was written to {args.dst}.')
    save_atomically(student, args.dst)
    print(f'wrote {len(student["state_dict"])} student tensors to {args.dst}')


if __name__ == '__main__':
    main()
