"""Print parameters, fvcore FLOPs and UNIX compute ratios of configs.

Examples::

    # a distillation config: F_t, F_s, their ratio, parameters, and the
    # per-iteration compute ratio against KD under both backward conventions
    python tools/analysis_tools/get_flops.py configs/unix_r56_r20_cifar100.py

    # every config under configs/, as a Markdown table for the docs
    python tools/analysis_tools/get_flops.py --all

    # the model zoo table of docs/model_zoo.md
    python tools/analysis_tools/get_flops.py configs/_base_/models/cifar/*.py

    # the measured Metadata of a metafile entry (configs/**/metafile.yml)
    python tools/analysis_tools/get_flops.py configs/unix_r56_r20_cifar100.py \
        --metafile

FLOPs are fvcore's for one sample in eval mode at the training input size,
one multiply-add counted as one flop ("Compute accounting" in
docs/algorithm.md).
"""
import argparse
import copy
import glob
import logging
import os.path as osp
import re

from mmengine.config import Config
from mmengine.logging import MMLogger

from mmunix.models.algorithms import ClassificationDistiller
from mmunix.registry import MODELS
from mmunix.utils import model_config, register_all_modules
from mmunix.utils.complexity import measure_complexity
from mmunix.utils.compute_cost import ComputeCost

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')


def natural_key(path):
    """Sort ``resnet8`` before ``resnet14``: digit runs compare as numbers."""
    parts = re.split(r'(\d+)', path)
    return [int(p) if p.isdigit() else p for p in parts]


def training_input_size(cfg: Config) -> int:
    """The side of the training crop, read from the train pipeline."""
    for transform in cfg.get('train_dataloader',
                             {}).get('dataset', {}).get('pipeline', []):
        for key in ('crop_size', 'scale'):
            size = transform.get(key)
            if isinstance(size, int):
                return size
            if isinstance(size, (tuple, list)) and len(size) == 2 and \
                    size[0] == size[1]:
                return size[0]
    return 32


def build_model(cfg: Config):
    """The ``model`` of ``cfg`` as the Runner builds it, without checkpoints.

    The top-level ``data_preprocessor`` fills in the model's, as in MMEngine's
    Runner; a distiller's teacher keeps its random weights, which cost the same
    flops.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'teacher_ckpt' not in model_cfg:
        return MODELS.build(model_config(model_cfg, 'model'))
    model_cfg.teacher_ckpt = None
    # The distiller warns that a random teacher is useless for distillation;
    # here it is intended, and the warning would land in the printed table.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return MODELS.build(model_cfg)
    finally:
        logger.setLevel(level)


def measure(path: str, size: int = None) -> dict:
    """Complexity of the ``model`` of one config.

    Returns a row with ``params``/``flops`` for a plain classifier, and for a
    distiller also the teacher's, the flops of the losses' trainable parts
    (``connector_flops``, counted as student training cost), the batch size
    ``N``, ``k`` and the compute ratio against the same losses without UNIX
    for backward = 1x and 2x forward.
    """
    cfg = Config.fromfile(path)
    size = size or training_input_size(cfg)
    shape = (3, size, size)
    row = dict(config=osp.relpath(path), input=size)
    model = build_model(cfg)
    if not isinstance(model, ClassificationDistiller):
        row['params'], row['flops'] = measure_complexity(model, shape)
        return row

    row['teacher_params'], row['teacher_flops'] = measure_complexity(
        model.teacher, shape)
    row['params'], row['flops'] = measure_complexity(model.student, shape)
    row['connector_flops'] = model.connector_flops_per_sample(shape)
    batch = cfg.train_dataloader.batch_size
    row['batch'] = batch
    if model.uses_unix:
        row['method'] = 'UNIX'
        unix = model.data_preprocessor
        if unix.needs_compute_cost:
            unix.apply_compute_budget(model.compute_cost(shape))
        row['k'] = unix.resolve_counts(batch)[0]
    else:
        row['method'], row['k'] = 'KD', batch
    for factor in (1, 2):
        cost = ComputeCost(row['teacher_flops'], row['flops'], factor,
                           row['connector_flops'])
        scoring = batch if row['method'] == 'UNIX' else 0
        row[f'ratio_bwd{factor}'] = cost.total(scoring, row['k'],
                                               row['k']) / cost.kd(batch)
    return row


def print_row(row: dict) -> None:
    print(f'config      {row["config"]}  (input {row["input"]}x'
          f'{row["input"]})')
    if 'teacher_flops' not in row:
        print(f'params      {row["params"] / 1e6:.2f} M')
        print(f'FLOPs       {row["flops"] / 1e6:.2f} M')
        return
    print(f'F_t         {row["teacher_flops"] / 1e6:.2f} M  (teacher params '
          f'{row["teacher_params"] / 1e6:.2f} M)')
    print(f'F_s         {row["flops"] / 1e6:.2f} M  (student params '
          f'{row["params"] / 1e6:.2f} M)')
    if row['connector_flops']:
        print(f'F_c         {row["connector_flops"] / 1e6:.2f} M  (the '
              "losses' trainable parts, trained with the student)")
    print(f'F_t/F_s     {row["teacher_flops"] / row["flops"]:.2f}')
    print(f'{row["method"]:<11} N={row["batch"]}, k={row["k"]}')
    print(f'compute ratio vs KD  {row["ratio_bwd1"]:.4f} (backward = 1x '
          f'forward, the paper\'s)  {row["ratio_bwd2"]:.4f} (backward = 2x)')


def print_markdown(rows: list) -> None:
    """A table; the distillation columns only when a distiller is in it."""
    distill = any('teacher_flops' in row for row in rows)
    connectors = any(row.get('connector_flops') for row in rows)
    header = ['Config', 'Input', 'Params (M)', 'FLOPs (M)']
    if connectors:
        header.append('Connector FLOPs (M)')
    if distill:
        header += [
            'Teacher FLOPs (M)', 'F_t/F_s', 'N', 'k', 'Ratio vs KD (bwd 1x)',
            'Ratio vs KD (bwd 2x)'
        ]
    print('| ' + ' | '.join(header) + ' |')
    print('| --- |' + ' ---: |' * (len(header) - 1))
    for row in rows:
        cells = [
            f'`{row["config"]}`',
            str(row['input']), f'{row["params"] / 1e6:.2f}',
            f'{row["flops"] / 1e6:.1f}'
        ]
        if connectors:
            cells.append(f'{row.get("connector_flops", 0) / 1e6:.1f}')
        if 'teacher_flops' in row:
            cells += [
                f'{row["teacher_flops"] / 1e6:.1f}',
                f'{row["teacher_flops"] / row["flops"]:.2f}',
                str(row['batch']),
                str(row['k']), f'{row["ratio_bwd1"]:.4f}',
                f'{row["ratio_bwd2"]:.4f}'
            ]
        elif distill:
            cells += [''] * 6
        print('| ' + ' | '.join(cells) + ' |')


def print_metafile(rows: list) -> None:
    """The measured ``Metadata`` of each row, as a metafile entry says it.

    Exact counts: ``FLOPs`` and ``Parameters`` are the model's, or a
    distiller's student's, since the student is what a distillation run
    delivers; then the teacher's, the fraction ``k/N`` of each batch that
    reaches the teacher, and the compute ratios against KD.
    """
    for row in rows:
        print(f'- Config: {row["config"]}')
        print('  Metadata:')
        print(f'    FLOPs: {row["flops"]}')
        print(f'    Parameters: {row["params"]}')
        if 'teacher_flops' in row:
            print(f'    Teacher FLOPs: {row["teacher_flops"]}')
            print(f'    Teacher Parameters: {row["teacher_params"]}')
            if row['connector_flops']:
                print(f'    Connector FLOPs: {row["connector_flops"]}')
            print('    Selected Fraction (k/N): '
                  f'{round(row["k"] / row["batch"], 4)}')
            print(f'    Compute Ratio vs KD: {row["ratio_bwd1"]:.4f}')
            print('    Compute Ratio vs KD (Backward 2x): '
                  f'{row["ratio_bwd2"]:.4f}')


def main():
    parser = argparse.ArgumentParser(
        description='Parameters, fvcore FLOPs and UNIX compute ratios.')
    parser.add_argument('configs', nargs='*', help='config files')
    parser.add_argument(
        '--all',
        action='store_true',
        help='every config under configs/ except _base_, as Markdown '
        '(or as metafile entries with --metafile)')
    parser.add_argument(
        '--size', type=int, help='input side (default: the training crop)')
    parser.add_argument(
        '--markdown', action='store_true', help='print a Markdown table')
    parser.add_argument(
        '--metafile',
        action='store_true',
        help='print exact counts as the Metadata of metafile entries')
    args = parser.parse_args()
    if args.all:
        # Runtime fragments such as configs/demo/demo_runtime.py hold no model.
        args.configs += [
            p for p in glob.glob(
                osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
            if '_base_' not in p and 'model' in Config.fromfile(p)
        ]
        args.markdown = not args.metafile
    if not args.configs:
        parser.error('give config paths, or --all')

    register_all_modules()
    for path in args.configs:
        if 'model' not in Config.fromfile(path):
            parser.error(f'{path} defines no model')
    rows = [
        measure(path, args.size)
        for path in sorted(args.configs, key=natural_key)
    ]
    if args.metafile:
        print_metafile(rows)
    elif args.markdown:
        print_markdown(rows)
    else:
        for row in rows:
            print_row(row)
            print()


if __name__ == '__main__':
    main()
