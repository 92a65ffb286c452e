"""Convert a community CIFAR teacher (RepDistiller/CRD/mdistiller/UNIXKD).

Example::

    python tools/model_converters/community_to_mmunix.py \
        ckpt/resnet56_vanilla/ckpt_epoch_240.pth \
        checkpoints/resnet56_cifar100.pth \
        --config configs/teachers/resnet56_cifar100.py

The result loads strictly into the model of ``--config`` and is what
``model.teacher_ckpt`` and ``tools/test.py`` take. Nothing is written when the
checkpoint does not fit the model.
"""
import argparse
import hashlib
import os.path as osp
import pickle

from mmengine.config import Config

from mmunix import __version__
from mmunix.models.utils.community import (convert_community_state_dict,
                                           load_community_state_dict)
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.atomic_save import save_atomically


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert a RepDistiller/CRD/mdistiller/UNIXKD CIFAR '
        'checkpoint into an mmunix checkpoint')
    parser.add_argument('src', help='community checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the mmunix checkpoint')
    parser.add_argument(
        '--config',
        required=True,
        help='an mmunix config whose `model` is the checkpoint\'s network, '
        'e.g. configs/_base_/models/cifar/resnet56.py or a teacher config')
    return parser.parse_args()


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    backbone = getattr(model, 'backbone', model)
    target = type(backbone).__name__
    if hasattr(backbone, 'arch'):
        target += f'(arch={backbone.arch!r})'
    try:
        state_dict = convert_community_state_dict(
            load_community_state_dict(args.src), model)
    except (ValueError, TypeError, pickle.UnpicklingError) as err:
        raise SystemExit(f'community_to_mmunix: {args.src}: {err}\n'
                         f'Nothing was written to {args.dst}.')

    checkpoint = dict(
        meta=dict(
            converter='tools/model_converters/community_to_mmunix.py',
            mmunix_version=__version__,
            source=osp.abspath(args.src),
            source_sha256=sha256(args.src),
            config=osp.abspath(args.config)),
        state_dict=state_dict)
    save_atomically(checkpoint, args.dst)
    print(f'Converted {len(state_dict)} tensors from {args.src} to '
          f'{args.dst} for {target}')


if __name__ == '__main__':
    main()
