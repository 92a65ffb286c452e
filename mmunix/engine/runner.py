"""MMEngine's Runner, refusing the checkpoints it would load wrongly."""
import glob
import os
import os.path as osp
import re
import socket
from typing import List, Optional

from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmunix.registry import RUNNERS
from mmunix.utils.atomic_save import write_atomically
from mmunix.utils.state_dict_mismatch import (DEFAULT_REVISE_KEYS,
                                              checkpoint_state_dict,
                                              describe_mismatch,
                                              non_finite_tensors)

#: Marks a work dir whose run is training: ``'host pid'``.
RUN_LOCK = '.training'
#: How MMEngine's CheckpointHook names what it saves.
CHECKPOINT_PATTERN = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
#: The default hooks of MMEngine's Runner, which it lets a None remove.
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                          'param_scheduler', 'checkpoint')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model or the run that loads it."""


@RUNNERS.register_module()
class SafeRunner(Runner):
    """MMEngine's ``Runner``, except that it refuses to load a checkpoint
    wrongly.

    - ``load_from`` loads **strictly**: a checkpoint of another model is an
      error that says what the checkpoint holds and what the model wants,
      where MMEngine logs the key lists and trains from random weights. Set
      ``load_from_strict=False`` at the top level of the config to load the
      tensors that match, as MMEngine does.
    - ``--resume PATH`` needs a checkpoint of the same model with its
      training state (``meta``, ``optimizer``): a weights-only file, or one of
      another model, is refused with that reason instead of a ``KeyError``
      or PyTorch's optimizer "parameter group" error.
    - Auto-resume (``--resume`` without a path) also works where the work
      dir's ``last_checkpoint`` is empty, or names a file that is gone (a
      moved work dir): it then takes the newest checkpoint in the work dir.
    - Any default hook set to None is left out, e.g.
      ``default_hooks.teacher_eval=None``; MMEngine allows that only for
      its own.

    ``default_runtime.py`` sets ``runner_type = 'SafeRunner'``.
    """

    def register_default_hooks(self, hooks: Optional[dict] = None) -> None:
        # MMEngine removes one of its own default hooks that is set to None
        # but fails on an assertion for any other name; mmunix's default
        # hooks (nan_guard, teacher_eval, run_summary) switch off alike.
        if hooks is not None:
            hooks = {
                name: hook
                for name, hook in hooks.items()
                if hook is not None or name in MMENGINE_DEFAULT_HOOKS
            }
        super().register_default_hooks(hooks)

    def dump_config(self) -> None:
        # MMEngine dumps the config into the work dir when the Runner is
        # built; a run refused afterwards (a checkpoint that does not fit)
        # would have replaced the config copy of the run it found there.
        # load_or_resume dumps it once the checkpoint is accepted.
        self._config_dumped = False

    def train(self):
        # Marks the work dir as in use while this run trains, so that
        # tools/train.py refuses a second run into it before the first has
        # saved anything (check_work_dir reads the mark).
        lock = osp.join(self.work_dir, RUN_LOCK)
        if self.rank == 0:
            write_atomically(lock, f'{socket.gethostname()} {os.getpid()}')
        try:
            return super().train()
        finally:
            if self.rank == 0 and osp.isfile(lock):
                os.remove(lock)

    def load_or_resume(self) -> None:
        if not self._has_loaded and self._resume and self._load_from is None:
            self._load_from = latest_checkpoint(self.work_dir)
            if self._load_from is None:
                self.logger.info(f'--resume: {self.work_dir} holds no '
                                 'checkpoint yet; training starts afresh')
                self._resume = False
        super().load_or_resume()
        if not self._resume and self.cfg.get('overwrite_work_dir'):
            self._delete_earlier_run()
        if not getattr(self, '_config_dumped', True):
            self._config_dumped = True
            super().dump_config()

    def _delete_earlier_run(self) -> None:
        """Delete the files of the run that ``--overwrite`` replaces, now that
        the new run has been built and its checkpoint loaded."""
        if self.rank != 0:
            return
        for path in run_files(self.work_dir):
            os.remove(path)
            self.logger.info(f'--overwrite: deleted {path}')

    def resume(self, filename: str, *args, **kwargs) -> None:
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        missing = [
            key
            for key, present in (('meta.epoch',
                                  bool(meta) and 'epoch' in meta),
                                 ('meta.iter', bool(meta) and 'iter' in meta),
                                 ('optimizer', 'optimizer' in checkpoint))
            if not present
        ]
        if missing:
            raise CheckpointMismatchError(
                f'--resume {filename}: the checkpoint has no training state '
                f'({", ".join(missing)} missing), so a run cannot continue '
                'from it (a converted or exported checkpoint holds weights '
                f'only). Start a new run from its weights with --cfg-options '
                f'load_from={filename}, without --resume.')
        self._check_checkpoint(checkpoint, filename, strict=True)
        self._checked_checkpoint = filename
        try:
            super().resume(filename, *args, **kwargs)
        except ValueError as error:  # the optimizer's parameter groups
            raise CheckpointMismatchError(
                f'--resume {filename}: its optimizer state does not fit '
                f'optim_wrapper of {self.cfg.filename} ({error}); resume '
                'with the optimizer settings the run started with') from None
        finally:
            self._checked_checkpoint = None
        self._forget_best_checkpoints_elsewhere()

    def _forget_best_checkpoints_elsewhere(self) -> None:
        """Drop the resumed message hub's best checkpoints that lie outside
        this work dir.

        CheckpointHook removes the previous best checkpoint, whose path the
        message hub carries: a run resumed from another work dir's (or a
        copied) checkpoint would delete that other run's best checkpoint.
        """
        work_dir = osp.realpath(self.work_dir) + os.sep
        info = self.message_hub.runtime_info
        for key in [key for key in info if key.startswith('best_ckpt')]:
            if osp.realpath(str(info[key])).startswith(work_dir):
                continue
            self.logger.warning(
                f'--resume: the checkpoint names {info[key]} as the best so '
                f'far, outside {self.work_dir}; it is left alone and the '
                'best checkpoint starts afresh here')
            # best_ckpt[_metric] and its score best_score[_metric].
            for stale in (key, key.replace('best_ckpt', 'best_score', 1)):
                info.pop(stale, None)
                self.message_hub._resumed_keys.pop(stale, None)

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: Optional[bool] = None,
                        revise_keys: list = DEFAULT_REVISE_KEYS):
        """MMEngine's ``load_checkpoint``, strict unless the config says
        ``load_from_strict=False`` (or ``strict=False`` is passed)."""
        if strict is None:
            strict = self.cfg.get('load_from_strict', True)
        if filename != getattr(self, '_checked_checkpoint', None):
            self._check_checkpoint(
                _load_checkpoint(filename, map_location='cpu'), filename,
                strict, revise_keys)
        return super().load_checkpoint(filename, map_location, strict,
                                       revise_keys)

    def _check_checkpoint(self,
                          checkpoint: dict,
                          filename: str,
                          strict: bool,
                          revise_keys: list = DEFAULT_REVISE_KEYS) -> None:
        """Refuse a checkpoint with NaN or Inf weights, and one that does not
        fit the model where it must load strictly."""
        state = checkpoint_state_dict(checkpoint, revise_keys)
        broken = non_finite_tensors(state)
        if broken:
            raise CheckpointMismatchError(
                f'checkpoint {filename} holds NaN or Inf in {len(broken)} '
                f'tensor(s) (e.g. {", ".join(broken[:3])}): it was saved by '
                'a run that diverged. Use an earlier checkpoint of that run')
        if not strict:
            return
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        problem = describe_mismatch(model.state_dict(), state)
        if problem:
            hint = ('resume with a checkpoint of this model' if self._resume
                    else 'pass a checkpoint of this model, or set '
                    'load_from_strict=False to load only the tensors that '
                    'match')
            raise CheckpointMismatchError(
                f'checkpoint {filename} does not match the model of '
                f'{self.cfg.filename}: {problem}; {hint}')


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` continues in ``work_dir``.

    ``last_checkpoint``'s path if that file exists; otherwise, when the file is
    missing, empty or names a file that is gone, the newest ``iter_N.pth`` or
    else ``epoch_N.pth`` of ``work_dir``.
    """
    logger = MMLogger.get_current_instance()
    recorded = ''
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            recorded = f.read().strip()
        if recorded and osp.isfile(recorded):
            return recorded
    found = _checkpoints(work_dir)
    if not found:
        return None
    newest = found[-1]
    if osp.isfile(pointer):
        logger.warning(
            f'{pointer} names {recorded!r}, which is not a file (an '
            'interrupted write, or a moved work dir); resuming from '
            f'{newest}, the newest checkpoint in {work_dir}')
    return newest


def training_process(work_dir: str) -> Optional[str]:
    """``'host pid'`` of a run training in ``work_dir`` right now, if any.

    A mark left by a run that was killed is recognised as such where it can be:
    its process is gone from this host.
    """
    lock = osp.join(work_dir, RUN_LOCK)
    if not osp.isfile(lock):
        return None
    with open(lock) as f:
        owner = f.read().strip()
    host, _, pid = owner.partition(' ')
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
    return owner


def run_files(work_dir: str) -> List[str]:
    """The files in ``work_dir`` that a training run leaves behind, the
    checkpoints first: MMEngine's epoch, iteration and best checkpoints,
    ``last_checkpoint``, ``compute_report.json``, the run summary and
    ``hard_samples/epoch_*.npy``."""
    found = _checkpoints(work_dir) + sorted(
        glob.glob(osp.join(glob.escape(work_dir), 'best_*.pth')))
    for name in ('last_checkpoint', 'compute_report.json', 'summary.json',
                 'summary.md'):
        if osp.isfile(osp.join(work_dir, name)):
            found.append(osp.join(work_dir, name))
    found += sorted(
        glob.glob(
            osp.join(glob.escape(work_dir), 'hard_samples', 'epoch_*.npy')))
    return found


def _checkpoints(work_dir: str) -> List[str]:
    """MMEngine's checkpoints in ``work_dir``, oldest first: iteration ones
    after epoch ones, each by number."""
    found = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        match = CHECKPOINT_PATTERN.match(osp.basename(path))
        if match:
            found.append((match.group(1) == 'iter', int(match.group(2)), path))
    return [path for *_, path in sorted(found)]
