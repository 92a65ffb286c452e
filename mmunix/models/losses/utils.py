"""Helpers shared by the losses that compare student and teacher outputs."""
import functools
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def pair_outputs(
        loss_name: str, student_outputs: Outputs,
        teacher_outputs: Outputs) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Pair the student's outputs with the teacher's, in order.

    A single tensor counts as a one-element sequence, so a loss accepts
    ``(N, C)`` logits and the stage tuples the backbones return alike.

    Args:
        loss_name (str): Named in the error, e.g. ``'ATLoss'``.
        student_outputs (Tensor | Sequence[Tensor]): Logits ``(N, C)`` or
            stage features, each ``(N, C_i, H_i, W_i)``.
        teacher_outputs (Tensor | Sequence[Tensor]): As many, in the same
            order.

    Returns:
        list[tuple[Tensor, Tensor]]: ``(student, teacher)`` pairs. The
        teacher's side is detached: it is a target.
    """
    if isinstance(student_outputs, torch.Tensor):
        student_outputs = (student_outputs, )
    if isinstance(teacher_outputs, torch.Tensor):
        teacher_outputs = (teacher_outputs, )
    if len(student_outputs) != len(teacher_outputs):
        raise ValueError(
            f'{loss_name} pairs stages, but the student gives '
            f'{len(student_outputs)} feature maps and the teacher '
            f'{len(teacher_outputs)}; set out_indices of the same length on '
            'the student and teacher backbones')
    return [(student, teacher.detach())
            for student, teacher in zip(student_outputs, teacher_outputs)]


def pool_to_common_size(
        student_feat: torch.Tensor,
        teacher_feat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Average-pool two ``(N, C, H, W)`` feature maps to their common spatial
    size: in each dimension the smaller of the two. A map already of that size
    is returned as it is."""
    size = tuple(
        min(s, t)
        for s, t in zip(student_feat.shape[-2:], teacher_feat.shape[-2:]))
    if student_feat.shape[-2:] != size:
        student_feat = F.adaptive_avg_pool2d(student_feat, size)
    if teacher_feat.shape[-2:] != size:
        teacher_feat = F.adaptive_avg_pool2d(teacher_feat, size)
    return student_feat, teacher_feat


def pair_embeddings(
        loss_name: str, student_embedding: torch.Tensor,
        teacher_embedding: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flatten two ``(N, ...)`` embeddings of the same samples to ``(N, D)``.

    Args:
        loss_name (str): Named in the error, e.g. ``'PKTLoss'``.
        student_embedding (Tensor): ``(N, D_s)`` or ``(N, ...)``.
        teacher_embedding (Tensor): ``(N, D_t)`` or ``(N, ...)``; ``D_t``
            may differ from ``D_s``.

    Returns:
        tuple[Tensor, Tensor]: ``(N, D_s)`` and ``(N, D_t)``; the teacher's
        is detached: it is a target.
    """
    student = student_embedding.flatten(1)
    teacher = teacher_embedding.detach().flatten(1)
    if student.size(0) != teacher.size(0):
        raise ValueError(
            f'{loss_name}: student and teacher embeddings must hold the same '
            f'samples, got batch sizes {student.size(0)} and '
            f'{teacher.size(0)}')
    return student, teacher


def in_float32(forward):
    """Run a loss's ``forward`` in float32, with autocast off.

    Relational losses (PKT, RKD, NST, SP) compare small differences between the
    similarities or distances of nearly parallel post-ReLU features. In float16
    or bfloat16 these round away: PKT becomes exactly 0 in bfloat16. Under
    ``--amp`` the floating-point tensors among the positional arguments
    (tensors or sequences of them) are therefore cast to float32, and the loss
    runs with autocast off; keyword arguments pass unchanged.
    """

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        args = [_to_float32(arg) for arg in args]
        device = next(_tensors(args)).device.type
        with torch.autocast(device, enabled=False):
            return forward(self, *args, **kwargs)

    return wrapper


def _to_float32(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(item) for item in value)
    return value


def _tensors(values):
    for value in values:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from _tensors(value)
