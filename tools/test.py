"""Evaluate a checkpoint with the test split of a config."""
import argparse

from mmengine.fileio import dump

from mmunix.utils import register_all_modules
from mmunix.utils.runner_args import (add_runner_args, build_runner,
                                      load_config, process_group)
from mmunix.utils.tool_files import check_output_file
from mmunix.utils.user_errors import UserError, one_line_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Test with mmunix')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument(
        '--out', help='dump the metrics to this file (json/yaml/pkl)')
    add_runner_args(parser)
    return parser.parse_args()


#: What mmengine.fileio.dump writes, by suffix of --out.
METRICS_FORMATS = ('.json', '.yaml', '.yml', '.pkl', '.pickle')


def check_metrics_file(out: str, checkpoint: str) -> None:
    """Refuse an ``--out`` that could not be written, or would replace the
    checkpoint, before the test runs."""
    if not out.endswith(METRICS_FORMATS):
        raise UserError(f'--out {out}: the metrics are written as JSON, '
                        'YAML or pickle; end the name with one of '
                        f'{", ".join(METRICS_FORMATS)}.')
    check_output_file(
        out, {'the checkpoint': checkpoint}, overwrite=True, name='--out')


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)

    def evaluate_only_the_checkpoint(cfg, args):
        cfg.load_from, cfg.resume = None, False

    with one_line_errors('test.py', args.debug):
        if args.out:
            check_metrics_file(args.out, args.checkpoint)
        cfg = load_config(args, evaluate_only_the_checkpoint)
        with process_group(cfg):
            runner = build_runner(cfg)
            # MMEngine's `load_from` loads non-strictly: a checkpoint of
            # another model would only log a warning and be scored as random
            # weights. SafeRunner names what does not match.
            runner.load_checkpoint(args.checkpoint, strict=True)
            metrics = runner.test()
            if args.out and runner.rank == 0:
                dump(metrics, args.out)


if __name__ == '__main__':
    main()
