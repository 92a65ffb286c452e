"""Train a model (a teacher, a student, or a distiller) from a config."""
import argparse

from mmengine.device import get_device

from mmunix.utils import register_all_modules
from mmunix.utils.runner_args import (add_runner_args, build_runner,
                                      check_work_dir, load_config,
                                      process_group)
from mmunix.utils.user_errors import UserError, one_line_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Train with mmunix')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate during training')
    parser.add_argument(
        '--sync-debug',
        action='store_true',
        help='fail at the first host sync in a training iteration that '
        'neither logs nor saves, after 10 warm-up iterations '
        "(torch.cuda.set_sync_debug_mode('error') on CUDA)")
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='start a new run even if the work dir holds one; its '
        'checkpoints, last_checkpoint, compute report and summary are '
        'deleted once the new run is built, just before it trains')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate linearly with the total batch size '
        '(relative to auto_scale_lr.base_batch_size)')
    add_runner_args(parser)
    return parser.parse_args()


def apply_train_options(cfg, args) -> None:
    """Apply the training switches of the command line to ``cfg``."""
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None

    if args.amp:
        if get_device() == 'cpu':
            raise UserError('--amp needs an accelerator (CUDA, NPU, MLU or '
                            'MUSA); this machine has none. Train without '
                            '--amp on the CPU.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    if args.sync_debug:
        cfg.custom_hooks = [
            *(cfg.get('custom_hooks') or []),
            dict(type='HostSyncCheckHook')
        ]


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    with one_line_errors('train.py', args.debug):
        cfg = load_config(args, apply_train_options)
        check_work_dir(cfg, args.overwrite)
        with process_group(cfg):
            build_runner(cfg).train()


if __name__ == '__main__':
    main()
