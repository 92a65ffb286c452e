"""Command-line options that tools/train.py and tools/test.py share."""
import argparse
import difflib
import inspect
import os
import os.path as osp

from mmengine.config import Config, DictAction

from mmunix.utils.user_errors import add_debug_arg

#: Top-level keys that MMEngine's Runner (or mmunix's) reads besides those
#: of its constructor, and MMEngine's config keywords.
RUNNER_CONFIG_KEYS = frozenset({
    'compile', 'model_wrapper_cfg', 'runner_type', 'custom_imports',
    'load_from_strict', 'overwrite_work_dir', '_base_', '_scope_'
})


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--local-rank``
    and ``--debug``."""
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
    add_debug_arg(parser)


def load_config(args: argparse.Namespace, apply_options=None) -> Config:
    """The config of ``args.config`` with the command line applied.

    ``apply_options(cfg, args)`` runs before ``--cfg-options``, so that
    explicit key overrides win over a tool's own switches.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config {args.config} does not exist')
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
        check_option_keys(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def check_option_keys(cfg: Config, options: dict) -> None:
    """Refuse a ``--cfg-options`` key whose first part is neither a key of
    ``cfg`` nor one the Runner reads: a typo would otherwise be ignored."""
    from mmengine.runner import Runner

    known = set(cfg.keys()) | RUNNER_CONFIG_KEYS | set(
        inspect.signature(Runner.__init__).parameters) - {'self'}
    for key, value in options.items():
        top = key.split('.')[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ''
            raise KeyError(
                f'--cfg-options {key}={value!r}: {top!r} is no key of '
                f"{cfg.filename} nor one that MMEngine's Runner reads{hint}")


class WorkDirInUseError(FileExistsError):
    """A new run would overwrite another run's files."""


def check_work_dir(cfg: Config, overwrite: bool) -> None:
    """Refuse a work dir that cannot be written, and a new run in a work dir
    that holds another run.

    A resumed run continues its own files. A new one would overwrite the
    old run's best checkpoint, ``last_checkpoint``, compute report and
    summary and mix its own epochs with the old ones. ``overwrite`` sets
    ``cfg.overwrite_work_dir``: :class:`~mmunix.engine.SafeRunner` deletes
    those files once the new run is built and its checkpoint loaded, so a
    new run refused for its config loses nothing.
    """
    from mmunix.engine.runner import RUN_LOCK, run_files, training_process

    _check_writable_folder(cfg.work_dir)
    owner = training_process(cfg.work_dir)
    if owner is not None:
        raise WorkDirInUseError(
            f'work dir {cfg.work_dir} is in use: a run is training in it '
            f'(host and process {owner}); wait for it to end, or train into '
            'a new --work-dir. If that run is gone (killed on another host), '
            f'delete {osp.join(cfg.work_dir, RUN_LOCK)}')
    if cfg.get('resume'):
        return
    found = run_files(cfg.work_dir)
    if not found:
        return
    if overwrite:
        cfg.overwrite_work_dir = True
        return
    names = ', '.join(osp.basename(path) for path in found[:4])
    more = f' and {len(found) - 4} more' if len(found) > 4 else ''
    raise WorkDirInUseError(
        f'work dir {cfg.work_dir} holds another run ({names}{more}); '
        'continue it with --resume, train into a new --work-dir, or '
        'pass --overwrite to delete those files and start again')


def _check_writable_folder(work_dir: str) -> None:
    """Create ``work_dir`` if needed; refuse it if that fails or it cannot be
    written, before anything is built."""
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        raise NotADirectoryError(
            f'--work-dir {work_dir} is a file; give a folder')
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as error:
        raise OSError(f'--work-dir {work_dir} cannot be created: '
                      f'{error.strerror}') from None
    if not os.access(work_dir, os.W_OK):
        raise PermissionError(f'--work-dir {work_dir} is not writable')


def process_group(cfg: Config):
    """:func:`mmunix.engine.distributed_session` for ``cfg``'s launcher."""
    from mmunix.engine import distributed_session
    return distributed_session(cfg.launcher,
                               cfg.get('env_cfg', {}).get('dist_cfg'))


def build_runner(cfg: Config):
    """The Runner of ``cfg``, :class:`~mmunix.engine.SafeRunner` unless
    ``cfg.runner_type`` names another; call it inside
    :func:`process_group`."""
    from mmengine.registry import RUNNERS

    from mmunix.engine import SafeRunner

    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return SafeRunner.from_cfg(cfg)
