"""Parameter and FLOP counts, as docs/algorithm.md defines them.

FLOPs are fvcore's: the forward of one sample in eval mode, counting one
multiply-add as one flop. The UNIX compute ratio is built from these numbers,
so every report in mmunix should come from this one function.
"""
import contextlib
import warnings
from typing import Callable, Iterable, Tuple

import torch
import torch.nn as nn

with warnings.catch_warnings():
    # fvcore scripts a loss at import time, which torch deprecates; the
    # warning is about fvcore, not about anything the caller can fix.
    warnings.filterwarnings(
        'ignore', message='`torch.jit.script` is deprecated')
    from fvcore.nn import FlopCountAnalysis


def measure_complexity(model: nn.Module, shape=(3, 32, 32)) -> Tuple[int, int]:
    """Count a model's parameters and the forward FLOPs of one sample.

    The model runs in eval mode under ``torch.no_grad()`` on a zero input of
    shape ``(1, *shape)`` placed on the model's device; its training mode,
    and each submodule's, is restored afterwards. Operators fvcore has no
    counter for (element-wise additions, max-pooling, ...) count as zero,
    fvcore's default; the warnings that list them are silenced.

    Args:
        model (nn.Module): A model whose ``forward(inputs)`` takes a
            ``(N, C, H, W)`` batch, e.g. an mmpretrain ``ImageClassifier``.
        shape (Sequence[int]): ``(C, H, W)`` of one sample.
            Defaults to ``(3, 32, 32)``.

    Returns:
        tuple[int, int]: ``(parameters, flops)``, both plain counts.
    """
    params = sum(p.numel() for p in model.parameters())
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device('cpu')
    inputs = torch.zeros(1, *shape, device=device)
    with eval_mode(model), torch.no_grad():
        flops = _fvcore_flops(model, inputs)
    return params, flops


@contextlib.contextmanager
def eval_mode(module: nn.Module):
    """Put ``module`` in eval mode for the block, then give every submodule
    back its own mode (a submodule frozen in eval mode stays so)."""
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for sub, training in modes:
            sub.training = training


def measure_called_flops(modules: Iterable[nn.Module],
                         run: Callable[[], object]) -> int:
    """Forward FLOPs of ``modules`` on the inputs that ``run()`` gives them.

    ``run`` is called once, with every module's inputs recorded; then each
    call is counted by fvcore on its own, so code around the modules (a
    loss's arithmetic, say) does not count. A call made inside the call of
    another of ``modules`` is part of that one and counts once. Leave the
    modules in the mode and under the grad setting to count them in.

    Args:
        modules (Iterable[nn.Module]): The modules to count.
        run (Callable): Runs code that calls them.

    Returns:
        int: The FLOPs of all their calls, for the whole batch of ``run``.
    """
    calls, active = [], []

    def enter(module, args):
        if not active:
            calls.append((module, args))
        active.append(module)

    def leave(module, args, output):
        active.pop()

    handles = []
    for module in modules:
        handles += [
            module.register_forward_pre_hook(enter),
            module.register_forward_hook(leave)
        ]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return sum(_fvcore_flops(module, args) for module, args in calls)


def _fvcore_flops(module: nn.Module, inputs) -> int:
    """fvcore's count of ``module(*inputs)``, without its warnings about
    operators it has no counter for."""
    analysis = FlopCountAnalysis(module, inputs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis.total()
