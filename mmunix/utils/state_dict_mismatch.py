"""Say in one line why a checkpoint does not load strictly into a model, or
should not be loaded at all.

PyTorch's strict ``load_state_dict`` error lists every key, kilobytes of them
for a checkpoint of another network. These pure functions, shared by
``load_from`` (:class:`mmunix.engine.SafeRunner`) and ``model.teacher_ckpt``
(:class:`mmunix.models.ClassificationDistiller`), sum the difference up
instead. They live apart from both so that models need not import the engine's
runner.
"""
import re
from typing import Dict, List

import torch

#: What MMEngine's load_checkpoint strips from checkpoint keys by default.
DEFAULT_REVISE_KEYS = [(r'^module.', '')]


def checkpoint_state_dict(checkpoint: dict,
                          revise_keys: list = DEFAULT_REVISE_KEYS) -> dict:
    """The state dict of a checkpoint, keys revised as MMEngine revises them
    when it loads one."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    revised = {}
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def describe_mismatch(model_state: Dict, checkpoint_state: Dict) -> str:
    """What keeps ``checkpoint_state`` from loading strictly into a model with
    ``model_state``; empty if nothing does.

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
                        ('not in the model', unexpected), ('of another shape',
                                                           reshaped)):
        if keys:
            parts.append(f'{len(keys)} {label} (e.g. '
                         f'{", ".join(keys[:3])})')
    return '; '.join(parts)


def _prefixes(state: Dict) -> str:
    """``'backbone.*, head.*'``: the top-level modules of a state dict."""
    names = sorted({key.split('.')[0] for key in state})
    return ', '.join(
        f'{name}.*'
        for name in names[:6]) + (', ...' if len(names) > 6 else '')


def non_finite_tensors(state_dict: Dict) -> List[str]:
    """The keys of ``state_dict``'s floating-point tensors that hold NaN or
    Inf: the weights of a run that diverged."""
    return [
        key for key, value in state_dict.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
