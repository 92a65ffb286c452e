"""The scorer interface of UNIX step 2, and the builder that checks configs.

A scorer turns the student's logits into one uncertainty per sample; the data
preprocessor ranks the batch by it (steps 2 and 3 of the training step in
docs/algorithm.md).
"""
import inspect
from typing import List, Union

import torch

from mmunix.registry import TASK_UTILS


class BaseScorer:
    """Base class of the uncertainty scorers (step 2 in docs/algorithm.md).

    Subclasses implement :meth:`score`; :meth:`__call__` checks the input and
    runs it without autograd. A score must stay on the logits' device and
    avoid host synchronisation and Python loops over the batch, because it
    runs on every training iteration.

    Downstream projects add a scorer by subclassing this class and
    registering it in ``mmunix.registry.TASK_UTILS``; :func:`build_scorer`
    then accepts its name.
    """

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """Uncertainty of each sample.

        Args:
            logits (Tensor): Classifier logits of shape ``(N, C)``.

        Returns:
            Tensor: Shape ``(N,)``, on the device of ``logits``. Higher means
            more uncertain.
        """
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Check that ``logits`` is ``(N, C)`` and score it."""
        if logits.ndim != 2:
            raise ValueError(f'{type(self).__name__} expects logits of shape '
                             f'(N, C), got {tuple(logits.shape)}')
        return self.score(logits)

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


def registered_scorer_names() -> List[str]:
    """Names of the scorers that ``TASK_UTILS`` and its parents can build.

    Returns:
        list[str]: Sorted names of registered :class:`BaseScorer` subclasses.
    """
    names = set()
    registry = TASK_UTILS
    while registry is not None:
        names.update(name for name, obj in registry.module_dict.items()
                     if inspect.isclass(obj) and issubclass(obj, BaseScorer))
        registry = registry.parent
    return sorted(names)


def build_scorer(cfg: Union[dict, BaseScorer],
                 key: str = 'model.data_preprocessor.scorer') -> BaseScorer:
    """Build a scorer from a config, or pass a built one through.

    The type is looked up in ``TASK_UTILS`` (and its parents) here rather
    than inside ``TASK_UTILS.build``, so that a typo, or a registered object
    that is not a scorer, fails with the config key and the valid names
    instead of MMEngine's generic ``KeyError``.

    Args:
        cfg (dict | BaseScorer): A config with ``type`` (a registered name or
            a :class:`BaseScorer` subclass) and the scorer's arguments, or a
            scorer.
        key (str): Where ``cfg`` sits in the config, for error messages.

    Returns:
        BaseScorer: The scorer.
    """
    if isinstance(cfg, BaseScorer):
        return cfg
    if not isinstance(cfg, dict):
        raise TypeError(f'{key} must be a dict with a `type` or a '
                        f'BaseScorer, got {type(cfg).__name__}')
    if 'type' not in cfg:
        raise ValueError(f'{key} has no `type`; choose one of: '
                         f'{", ".join(registered_scorer_names())}')

    scorer_type = cfg['type']
    scorer_cls = scorer_type
    if isinstance(scorer_type, str):
        try:
            scorer_cls = TASK_UTILS.get(scorer_type)
        except RuntimeError:  # MMEngine's answer to e.g. an empty name
            scorer_cls = None
    if not (inspect.isclass(scorer_cls)
            and issubclass(scorer_cls, BaseScorer)):
        if isinstance(scorer_type, str) and scorer_cls is not None:
            problem = 'is registered but is not a BaseScorer subclass'
        elif inspect.isclass(scorer_type):
            problem = 'is not a BaseScorer subclass'
        else:
            problem = 'is not a registered scorer'
        raise ValueError(f'{key}.type={scorer_type!r} {problem}; choose one '
                         f'of: {", ".join(registered_scorer_names())}')
    # Passing the class avoids a second, scope-dependent name lookup.
    try:
        return TASK_UTILS.build(dict(cfg, type=scorer_cls))
    except (TypeError, ValueError) as error:  # e.g. an unknown argument
        raise type(error)(f'{key}: {error}') from error
