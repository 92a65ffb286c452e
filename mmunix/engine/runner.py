"""MMEngine's Runner, refusing the checkpoints it would load wrongly."""
import glob
import os.path as osp
import re
from typing import Dict, List, Optional

from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmunix.registry import RUNNERS

#: How MMEngine's CheckpointHook names what it saves.
CHECKPOINT_PATTERN = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
#: What MMEngine's load_checkpoint strips from checkpoint keys by default.
DEFAULT_REVISE_KEYS = [(r'^module.', '')]


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

    ``default_runtime.py`` sets ``runner_type = 'SafeRunner'``.
    """

    def load_or_resume(self) -> None:
        if not self._has_loaded and self._resume and self._load_from is None:
            self._load_from = latest_checkpoint(self.work_dir)
            if self._load_from is None:
                self.logger.info(f'--resume: {self.work_dir} holds no '
                                 'checkpoint yet; training starts afresh')
                self._resume = False
        super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        missing = [
            key for key, present in (
                ('meta.epoch', bool(meta) and 'epoch' in meta),
                ('meta.iter', bool(meta) and 'iter' in meta),
                ('optimizer', 'optimizer' in checkpoint)) if not present
        ]
        if missing:
            raise CheckpointMismatchError(
                f'--resume {filename}: the checkpoint has no training state '
                f'({", ".join(missing)} missing), so a run cannot continue '
                'from it (a converted or exported checkpoint holds weights '
                f'only). Start a new run from its weights with --cfg-options '
                f'load_from={filename}, without --resume.')
        self._check_model_matches(checkpoint, filename)
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

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: Optional[bool] = None,
                        revise_keys: list = DEFAULT_REVISE_KEYS):
        """MMEngine's ``load_checkpoint``, strict unless the config says
        ``load_from_strict=False`` (or ``strict=False`` is passed)."""
        if strict is None:
            strict = self.cfg.get('load_from_strict', True)
        if strict and filename != getattr(self, '_checked_checkpoint', None):
            self._check_model_matches(
                _load_checkpoint(filename, map_location='cpu'), filename,
                revise_keys)
        return super().load_checkpoint(filename, map_location, strict,
                                       revise_keys)

    def _check_model_matches(self,
                             checkpoint: dict,
                             filename: str,
                             revise_keys: list = DEFAULT_REVISE_KEYS) -> None:
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        problem = describe_mismatch(
            model.state_dict(), checkpoint_state_dict(checkpoint,
                                                      revise_keys))
        if problem:
            hint = ('resume with a checkpoint of this model' if self._resume
                    else 'pass a checkpoint of this model, or set '
                    'load_from_strict=False to load only the tensors that '
                    'match')
            raise CheckpointMismatchError(
                f'checkpoint {filename} does not match the model of '
                f'{self.cfg.filename}: {problem}; {hint}')


def checkpoint_state_dict(checkpoint: dict,
                          revise_keys: list = DEFAULT_REVISE_KEYS) -> dict:
    """The state dict of a checkpoint, keys revised as MMEngine revises
    them when it loads one."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    revised = {}
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def describe_mismatch(model_state: Dict, checkpoint_state: Dict) -> str:
    """What keeps ``checkpoint_state`` from loading strictly into a model
    with ``model_state``; empty if nothing does.

    ``num_batches_tracked`` counters may be absent, as MMEngine allows.
    """
    missing = [
        key for key in model_state if key not in checkpoint_state
        and not key.endswith('num_batches_tracked')
    ]
    unexpected = [key for key in checkpoint_state if key not in model_state]
    reshaped = [
        f'{key} {tuple(checkpoint_state[key].shape)} vs '
        f'{tuple(model_state[key].shape)}' for key in model_state
        if key in checkpoint_state and hasattr(checkpoint_state[key], 'shape')
        and checkpoint_state[key].shape != model_state[key].shape
    ]
    if not (missing or unexpected or reshaped):
        return ''
    parts = [
        f'it holds {len(checkpoint_state)} tensors under '
        f'{_prefixes(checkpoint_state)}, the model '
        f'{len(model_state)} under {_prefixes(model_state)}'
    ]
    for label, keys in (('missing from it', missing),
                        ('not in the model', unexpected),
                        ('of another shape', reshaped)):
        if keys:
            parts.append(f'{len(keys)} {label} (e.g. '
                         f'{", ".join(keys[:3])})')
    return '; '.join(parts)


def _prefixes(state: Dict) -> str:
    """``'backbone.*, head.*'``: the top-level modules of a state dict."""
    names = sorted({key.split('.')[0] for key in state})
    return ', '.join(f'{name}.*' for name in names[:6]) + (
        ', ...' if len(names) > 6 else '')


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that ``--resume`` continues in ``work_dir``.

    ``last_checkpoint``'s path if that file exists; otherwise, when the
    file is missing, empty or names a file that is gone, the newest
    ``iter_N.pth`` or else ``epoch_N.pth`` of ``work_dir``.
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


def run_files(work_dir: str) -> List[str]:
    """The files in ``work_dir`` that a training run leaves behind:
    ``last_checkpoint``, MMEngine's checkpoints (epoch, iteration and best
    ones), ``compute_report.json`` and ``hard_samples/epoch_*.npy``."""
    names = ['last_checkpoint', 'compute_report.json']
    found = [
        osp.join(work_dir, name) for name in names
        if osp.isfile(osp.join(work_dir, name))
    ]
    found += _checkpoints(work_dir) + sorted(
        glob.glob(osp.join(glob.escape(work_dir), 'best_*.pth')))
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
