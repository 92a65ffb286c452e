"""Time UNIX against conventional KD, and mmunix against plain PyTorch.

Examples::

    python tools/analysis_tools/benchmark.py \
        configs/unix_r32x4_r8x4_cifar100.py --iters 30
    python tools/analysis_tools/benchmark.py \
        configs/unix_vgg13_mbv2_cifar100.py --json work_dirs/bench.json
    python tools/analysis_tools/benchmark.py CONFIG --device cuda --amp

KD, UNIX and a plain-PyTorch UNIX loop train in turn on one synthetic batch;
the table gives their median iteration times, UNIX/KD time against the
FLOPs ratio of docs/algorithm.md, and mmunix's overhead over plain PyTorch.
See docs/benchmarks.md and :mod:`mmunix.utils.benchmark`.
"""
import argparse

from mmunix.utils.benchmark import format_table, run_benchmark, write_json


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time KD, UNIX and plain-PyTorch UNIX training '
        'iterations of a UNIX config.')
    parser.add_argument('config', help='a UNIX config file')
    parser.add_argument(
        '--iters', type=int, default=20, help='timed rounds (default: 20)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=3,
        help='untimed rounds before them (default: 3)')
    parser.add_argument(
        '--batch-size', type=int, default=64, help='N (default: 64)')
    parser.add_argument(
        '--device', default='cpu', help='cpu or cuda[:i] (default: cpu)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: AmpOptimWrapper and autocast (CUDA only)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--sync-debug',
        action='store_true',
        help='fail at the first host sync in a timed iteration '
        "(torch.cuda.set_sync_debug_mode('error') on CUDA)")
    parser.add_argument(
        '--json',
        metavar='PATH',
        help='also write the '
        'numbers, every timing included, to this JSON file')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        result = run_benchmark(
            args.config,
            iters=args.iters,
            batch_size=args.batch_size,
            device=args.device,
            amp=args.amp,
            warmup=args.warmup,
            seed=args.seed,
            sync_debug=args.sync_debug)
    except (ValueError, RuntimeError) as error:
        raise SystemExit(f'benchmark.py: error: {error}')
    print(format_table(result))
    if args.json:
        write_json(result, args.json)


if __name__ == '__main__':
    main()
