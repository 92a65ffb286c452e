"""Time real training iterations: mmunix's Runner against a plain PyTorch loop,
for KD and UNIX.

Examples::

    # 100 timed iterations after 20, on 6,400 generated CIFAR-100 images
    python tools/analysis_tools/benchmark_epoch.py \
        configs/unix_r56_r20_cifar100.py --generate 6400 --json r56.json
    # on the config's own data, with 8 loader workers and bfloat16 AMP
    python tools/analysis_tools/benchmark_epoch.py \
        configs/unix_r32x4_r8x4_cifar100.py --workers 8 --amp bf16

The Runner trains the config (dataloader workers, data preprocessor, hooks
and logging included) with a device synchronisation only at the ends of the
timed window; an independent torchvision + DataLoader loop does the same
work. See docs/benchmarks.md and :mod:`mmunix.utils.epoch_benchmark`.
"""
import argparse

from mmengine.config import DictAction

from mmunix.utils.benchmark import write_json
from mmunix.utils.epoch_benchmark import (AMP_SETTINGS, format_epoch_table,
                                          run_epoch_benchmark)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time KD and UNIX training iterations of a UNIX config: '
        "MMEngine's Runner against a plain PyTorch loop.")
    parser.add_argument('config', help='a UNIX config file')
    parser.add_argument(
        '--iters',
        type=int,
        default=100,
        help='timed iterations per run (default: 100)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=20,
        help='untimed iterations before them (default: 20)')
    parser.add_argument(
        '--rounds',
        type=int,
        default=2,
        help='interleaved runs of each of the four (default: 2)')
    parser.add_argument(
        '--batch-size', type=int, help="N (default: the config's)")
    parser.add_argument(
        '--workers',
        type=int,
        help="dataloader workers of every run (default: the config's)")
    parser.add_argument(
        '--generate',
        type=int,
        metavar='NUM',
        help='train on NUM random CIFAR-100 images written to a temporary '
        "folder instead of the config's data")
    parser.add_argument(
        '--amp',
        choices=sorted(AMP_SETTINGS),
        help='mixed precision (CUDA only)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys first, e.g. '
        'optim_wrapper.optimizer.lr=0.1')
    parser.add_argument(
        '--json',
        metavar='PATH',
        help='also write every '
        'number to this JSON file')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        result = run_epoch_benchmark(
            args.config,
            iters=args.iters,
            warmup=args.warmup,
            rounds=args.rounds,
            batch_size=args.batch_size,
            num_workers=args.workers,
            generate=args.generate,
            amp=args.amp,
            cfg_options=args.cfg_options,
            seed=args.seed)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f'benchmark_epoch.py: error: {error}')
    print(format_epoch_table(result))
    if args.json:
        write_json(result, args.json)


if __name__ == '__main__':
    main()
