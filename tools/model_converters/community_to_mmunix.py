"""Convert a community CIFAR teacher (RepDistiller/CRD/mdistiller/UNIXKD).

Example::

    python tools/model_converters/community_to_mmunix.py \
        ckpt/resnet56_vanilla/ckpt_epoch_240.pth \
        checkpoints/resnet56_cifar100.pth \
        --config configs/teachers/resnet56_cifar100.py

The result loads strictly into the model of ``--config`` and is what
``model.teacher_ckpt`` and ``tools/test.py`` take. Nothing is written when the
checkpoint does not fit the model. An existing DST is replaced only with
``--overwrite``, and SRC or ``--config`` never are.
"""
import argparse
import hashlib
import os
import os.path as osp
import pickle

from mmengine.config import Config, ConfigDict

from mmunix import __version__
from mmunix.models.algorithms import ClassificationDistiller
from mmunix.models.utils.community import (convert_community_state_dict,
                                           load_community_state_dict)
from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.atomic_save import save_atomically
from mmunix.utils.tool_files import (check_input_file, check_output_file,
                                     unusable_input)
from mmunix.utils.user_errors import UserError, add_debug_arg, one_line_errors

#: Suggested when ``--config`` is not the config of one network.
EXAMPLE_CONFIGS = ('configs/teachers/resnet56_cifar100.py',
                   'configs/_base_/models/cifar/resnet56.py')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert a RepDistiller/CRD/mdistiller/UNIXKD CIFAR '
        'checkpoint into an mmunix checkpoint')
    parser.add_argument(
        'src', metavar='SRC', help='community checkpoint (.pth)')
    parser.add_argument(
        'dst', metavar='DST', help='where to write the mmunix checkpoint')
    parser.add_argument(
        '--config',
        required=True,
        help='an mmunix config whose `model` is the checkpoint\'s network, '
        'e.g. configs/_base_/models/cifar/resnet56.py or a teacher config')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace DST if it exists (never SRC or --config)')
    add_debug_arg(parser)
    return parser.parse_args()


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def network_config(cfg: Config, path: str) -> ConfigDict:
    """``cfg.model`` where it is one network, the checkpoint's.

    Dataset, schedule and runtime configs have no ``model``; a distillation
    config has two networks, so which one the checkpoint is stays open.
    """
    if 'model' not in cfg:
        raise UserError(
            f'{path}: --config defines no `model`, so it cannot describe '
            "the checkpoint's network: pass the model config of that "
            f'network, e.g. {EXAMPLE_CONFIGS[1]}, or a teacher config, e.g. '
            f'{EXAMPLE_CONFIGS[0]}.')
    model_type = cfg.model.get('type')
    # A registry name, or the class itself in a pure-Python config.
    model_class = (
        MODELS.get(model_type) if isinstance(model_type, str) else model_type)
    if isinstance(model_class, type) and issubclass(model_class,
                                                    ClassificationDistiller):
        # Name this config's own teacher and student files where it takes
        # them from files: one of them is what the user looks for.
        own = [
            _shown(cfg.model[key]['cfg_path'])
            for key in ('teacher', 'student')
            if 'cfg_path' in (cfg.model.get(key) or {})
        ]
        examples = ' or '.join(own or EXAMPLE_CONFIGS)
        whose = ' (its teacher and student)' if len(own) == 2 else ''
        raise UserError(
            f'{path}: --config is a distillation config (model.type='
            f'{model_type!r}), which holds two networks: pass the teacher '
            'config or the model config of the network whose checkpoint '
            f'this is, e.g. {examples}{whose}.')
    return cfg.model


def _shown(path: str) -> str:
    """``path`` relative to the working directory if it lies inside it."""
    relative = osp.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def convert(args) -> None:
    check_input_file(args.src, 'SRC')
    check_input_file(args.config, '--config')
    check_output_file(args.dst, {
        'SRC': args.src,
        '--config': args.config
    }, args.overwrite)
    register_all_modules()
    model = MODELS.build(
        network_config(Config.fromfile(args.config), args.config))
    backbone = getattr(model, 'backbone', model)
    target = type(backbone).__name__
    if hasattr(backbone, 'arch'):
        target += f'(arch={backbone.arch!r})'
    try:
        state_dict = convert_community_state_dict(
            load_community_state_dict(args.src), model)
    # What the loader and the conversion raise for a file that is not a
    # weights-only checkpoint of this network; they say what is wrong.
    except (ValueError, TypeError, pickle.UnpicklingError) as error:
        raise unusable_input(args.src, error, args.dst) from error

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


def main():
    args = parse_args()
    with one_line_errors('community_to_mmunix', args.debug):
        convert(args)


if __name__ == '__main__':
    main()
