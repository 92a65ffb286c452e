"""Print the parameters and fvcore FLOPs of model configs.

Examples::

    python tools/analysis_tools/get_flops.py configs/_base_/models/cifar/resnet56.py
    python tools/analysis_tools/get_flops.py --all --markdown

FLOPs are for one sample in eval mode, one multiply-add counted as one flop
(see :func:`mmunix.utils.complexity.measure_complexity`).
"""
import argparse
import glob
import os.path as osp
import re

from mmengine.config import Config

from mmunix.registry import MODELS
from mmunix.utils import register_all_modules
from mmunix.utils.complexity import measure_complexity

CIFAR_MODEL_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    '_base_', 'models', 'cifar')


def natural_key(path):
    """Sort ``resnet8`` before ``resnet14``: digit runs compare as numbers."""
    parts = re.split(r'(\d+)', osp.basename(path))
    return [int(p) if p.isdigit() else p for p in parts]


def parse_args():
    parser = argparse.ArgumentParser(
        description='Count the parameters and FLOPs of model configs.')
    parser.add_argument(
        'configs', nargs='*', help='config files whose `model` to measure')
    parser.add_argument(
        '--all',
        action='store_true',
        help=f'also measure every config in {osp.relpath(CIFAR_MODEL_DIR)}')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[32, 32],
        metavar=('H', 'W'),
        help='input height and width (default: 32 32)')
    parser.add_argument(
        '--markdown', action='store_true', help='print a Markdown table')
    args = parser.parse_args()
    if args.all:
        args.configs += sorted(
            glob.glob(osp.join(CIFAR_MODEL_DIR, '*.py')), key=natural_key)
    if not args.configs:
        parser.error('give config paths, or --all')
    return args


def main():
    args = parse_args()
    register_all_modules()
    height, width = args.shape
    rows = []
    for path in args.configs:
        model = MODELS.build(Config.fromfile(path).model)
        params, flops = measure_complexity(model, (3, height, width))
        name = osp.splitext(osp.basename(path))[0]
        rows.append((name, model.backbone.__class__.__name__, params, flops))

    if args.markdown:
        print(f'| Model | Backbone | Params (M) | FLOPs (M) at '
              f'{height}x{width} |')
        print('| --- | --- | ---: | ---: |')
        for name, backbone, params, flops in rows:
            print(f'| {name} | `{backbone}` | {params / 1e6:.2f} | '
                  f'{flops / 1e6:.1f} |')
    else:
        for name, backbone, params, flops in rows:
            print(f'{name:<14} {backbone:<24} params {params / 1e6:7.2f} M  '
                  f'FLOPs {flops / 1e6:9.1f} M')


if __name__ == '__main__':
    main()
