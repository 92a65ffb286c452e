"""Channel counts that the losses with trainable parts are built for.

Connectors, regressors and embedding heads are built with the model, before any
data flows, so that the optimizer and DDP see their parameters from the start.
Their channel counts therefore come from the config, and these helpers check
them against the outputs of the first forward, naming the argument to fix and
the value it needs.
"""
from numbers import Integral
from typing import List, Sequence, Tuple, Union

import torch

Channels = Union[int, Sequence[int]]


def check_positive_ints(owner: str, **values) -> None:
    """Refuse any of ``values`` that is not a positive int (a bool is not),
    naming ``owner`` and the argument."""
    for key, value in values.items():
        if isinstance(value,
                      bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(
                f'{owner}: {key}={value!r} must be a positive int')


def channel_tuple(loss_name: str, key: str, value: Channels) -> Tuple[int]:
    """``value`` as a tuple of positive ints; an int is one output's."""
    values = (value, ) if isinstance(value, Integral) else value
    if isinstance(values, (str, bytes)) or not isinstance(
            values, Sequence) or not values or not all(
                isinstance(v, Integral) and not isinstance(v, bool) and v > 0
                for v in values):
        raise ValueError(f'{loss_name}: {key}={value!r} must be a positive '
                         'int or a non-empty sequence of them, one per '
                         'compared output')
    return tuple(int(v) for v in values)


def channel_pairs(loss_name: str, student_channels: Channels,
                  teacher_channels: Channels) -> List[Tuple[int, int]]:
    """``[(C_s, C_t), ...]``, one pair per compared output.

    Args:
        loss_name (str): Named in the errors, e.g. ``'FitNetsLoss'``.
        student_channels (int | Sequence[int]): Channels of each student
            output, in order; an int for one output.
        teacher_channels (int | Sequence[int]): The teacher's, as many.

    Returns:
        list[tuple[int, int]]: The pairs.
    """
    student = channel_tuple(loss_name, 'student_channels', student_channels)
    teacher = channel_tuple(loss_name, 'teacher_channels', teacher_channels)
    if len(student) != len(teacher):
        raise ValueError(
            f'{loss_name}: student_channels={student_channels!r} and '
            f'teacher_channels={teacher_channels!r} must name as many '
            'outputs')
    return list(zip(student, teacher))


def check_channels(loss_name: str, pairs: Sequence[Tuple[int, int]],
                   student: Sequence[torch.Tensor],
                   teacher: Sequence[torch.Tensor], kind: str) -> None:
    """Refuse outputs whose channels (dim 1) differ from the configured ones.

    Args:
        loss_name (str): Named in the error.
        pairs (Sequence[tuple[int, int]]): From :func:`channel_pairs`.
        student (Sequence[Tensor]): The student's outputs, ``(N, C, ...)``.
        teacher (Sequence[Tensor]): The teacher's, as many.
        kind (str): ``'stages'`` or ``'embedding'``, the loss's
            ``distill_input``.
    """
    for role, outputs, index in (('student', student, 0), ('teacher', teacher,
                                                           1)):
        actual = tuple(output.size(1) for output in outputs)
        wanted = tuple(pair[index] for pair in pairs)
        if actual == wanted:
            continue
        what = (f'stage outputs (model.{role}.backbone.out_indices selects '
                'them)' if kind == 'stages' else 'embeddings')
        raise ValueError(
            f'{loss_name} was built for {role}_channels={_show(wanted)}, but '
            f"the {role}'s {what} have {_show(actual)} channels: set "
            f'{role}_channels={_show(actual)} in the {loss_name} config '
            '(model.feature_losses.<name>)')


def _show(channels: Tuple[int, ...]) -> str:
    return str(channels[0]) if len(channels) == 1 else str(channels)
