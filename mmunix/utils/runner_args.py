"""Command-line options that tools/train.py and tools/test.py share."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--local-rank``."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=1 '
        'model.teacher_ckpt=work_dirs/resnet56_cifar100/epoch_240.pth')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace, apply_options=None) -> Config:
    """The config of ``args.config`` with the command line applied.

    ``apply_options(cfg, args)`` runs before ``--cfg-options``, so that
    explicit key overrides win over a tool's own switches.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if apply_options is not None:
        apply_options(cfg, args)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def process_group(cfg: Config):
    """:func:`mmunix.engine.distributed_session` for ``cfg``'s launcher."""
    from mmunix.engine import distributed_session
    return distributed_session(cfg.launcher,
                               cfg.get('env_cfg', {}).get('dist_cfg'))


def build_runner(cfg: Config):
    """The Runner of ``cfg``; call it inside :func:`process_group`."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
