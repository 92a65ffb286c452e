"""Helpers shared by the losses that compare student and teacher outputs."""
from typing import List, Sequence, Tuple, Union

import torch

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
