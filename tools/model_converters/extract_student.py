"""Write the student of a distillation checkpoint as a plain classifier.

The result has no teacher and no mmunix-specific keys: mmpretrain's
``ImageClassifier`` (and ``mmpretrain.apis``) load it with the student's own
model config, e.g. ``configs/_base_/models/cifar/resnet20.py``.

Usage::

    python tools/model_converters/extract_student.py \\
        work_dirs/unix_r56_r20_cifar100/epoch_240.pth \\
        work_dirs/unix_r56_r20_cifar100/student_r20.pth

An existing DST is replaced only with ``--overwrite``, and SRC never is.
"""
import argparse
import pickle
from typing import Mapping

from mmunix.engine import load_from_local_weights_only
from mmunix.utils.atomic_save import save_atomically
from mmunix.utils.tool_files import (check_input_file, check_output_file,
                                     unusable_input)
from mmunix.utils.user_errors import add_debug_arg, one_line_errors

PREFIX = 'student.'


def extract_student(checkpoint: dict) -> dict:
    """The student's ``state_dict`` and meta of a distiller checkpoint."""
    # A weights-only load may return any plain container or a tensor.
    if not isinstance(checkpoint, Mapping):
        checkpoint = {}
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping):
        state_dict = {}
    student = {
        key[len(PREFIX):]: value
        for key, value in state_dict.items()
        if isinstance(key, str) and key.startswith(PREFIX)
    }
    if not student:
        raise ValueError('no "student." keys: this is not a checkpoint of '
                         'ClassificationDistiller')
    meta = checkpoint.get('meta')
    if not isinstance(meta, Mapping):
        meta = {}
    meta = {
        key: value
        for key, value in meta.items()
        if key in ('dataset_meta', 'epoch', 'iter', 'mmengine_version')
    }
    return dict(meta=meta, state_dict=student)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', metavar='SRC', help='distillation checkpoint')
    parser.add_argument(
        'dst', metavar='DST', help='student checkpoint to write')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace DST if it exists (never SRC)')
    add_debug_arg(parser)
    return parser.parse_args()


def convert(args) -> None:
    check_input_file(args.src, 'SRC')
    check_output_file(args.dst, {'SRC': args.src}, args.overwrite)
    try:
        student = extract_student(load_from_local_weights_only(args.src))
    # UnreadableCheckpointError is a ValueError and UnsafeCheckpointError
    # an UnpicklingError: both say what is wrong with SRC.
    except (ValueError, pickle.UnpicklingError) as error:
        raise unusable_input(args.src, error, args.dst) from error
    save_atomically(student, args.dst)
    print(f'wrote {len(student["state_dict"])} student tensors to {args.dst}')


def main():
    args = parse_args()
    with one_line_errors('extract_student', args.debug):
        convert(args)


if __name__ == '__main__':
    main()
