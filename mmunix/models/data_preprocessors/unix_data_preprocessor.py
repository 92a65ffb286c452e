"""Uncertainty-aware mixup (UNIX) on top of mmpretrain's preprocessing."""
import inspect
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Optional, Union

import numpy as np
import torch

from mmunix.models.scorers import build_scorer
from mmunix.registry import MODELS
from .device_cls_data_preprocessor import DeviceClsDataPreprocessor

#: A count of samples (``int >= 0``) or a fraction of the batch (``float``).
SampleCount = Union[int, float]
KEY = 'model.data_preprocessor'


@dataclass
class MixedBatch:
    """The samples that the teacher and the student's training step see.

    Attributes:
        inputs (Tensor): ``(k, C, H, W)`` normalised, mixed images.
        labels_a (Tensor): ``(k,)`` label of each sample's base image.
        labels_b (Tensor): ``(k,)`` label of the image mixed into it.
        mask (Tensor, optional): ``(k,)`` weight of the mixed-in image,
            ``None`` for clean samples (conventional KD).
        ranks (Tensor, optional): ``(N,)`` batch positions sorted from most
            to least uncertain (step 3 in docs/algorithm.md).
        num_clean (int): ``b``; ``ranks[:b]`` are the clean, most uncertain
            samples (step 8 in docs/algorithm.md).
    """
    inputs: torch.Tensor
    labels_a: torch.Tensor
    labels_b: torch.Tensor
    mask: Optional[torch.Tensor] = None
    ranks: Optional[torch.Tensor] = None
    num_clean: int = 0

    @property
    def hard_positions(self) -> Optional[torch.Tensor]:
        """``(b,)`` batch positions of the clean, most uncertain samples."""
        return None if self.ranks is None else self.ranks[:self.num_clean]

    @property
    def base_positions(self) -> Optional[torch.Tensor]:
        """``(k,)`` batch positions of the samples' base images (``x[r_j]`` of
        step 5 in docs/algorithm.md); ``None`` when the batch is all ``N``
        samples in order (conventional KD)."""
        if self.ranks is None:
            return None
        return self.ranks[:self.inputs.size(0)]

    @classmethod
    def clean(cls, inputs: torch.Tensor, labels: torch.Tensor):
        """All ``N`` samples unmixed: conventional KD."""
        return cls(inputs, labels, labels)

    def soft_targets(self, num_classes: int) -> torch.Tensor:
        """``(k, num_classes)`` scores ``(1-m)·onehot(y_a) + m·onehot(y_b)``.

        With these, soft-target cross-entropy is exactly the mixed CE of step 7
        of the training step in docs/algorithm.md.
        """
        one_hot_a = self._one_hot(self.labels_a, num_classes)
        if self.mask is None:
            return one_hot_a
        mask = self.mask.unsqueeze(1)
        return (1 - mask) * one_hot_a + mask * self._one_hot(
            self.labels_b, num_classes)

    def _one_hot(self, labels, num_classes):
        return torch.nn.functional.one_hot(labels,
                                           num_classes).to(self.inputs.dtype)


def _check_count(value, key: str, allow_zero: bool) -> SampleCount:
    """Accept an int count or a fraction of the batch in ``(0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{key}={value!r} must be an int (a number of '
                        'samples) or a float in (0, 1] (a fraction of the '
                        'batch)')
    if isinstance(value, Integral):  # NumPy ints too, e.g. from a sweep
        if value < (0 if allow_zero else 1):
            raise ValueError(f'{key}={value} must be '
                             f'{">= 0" if allow_zero else ">= 1"}')
        return int(value)
    lower = '[0' if allow_zero else '(0'
    if not ((0 <= value if allow_zero else 0 < value) and value <= 1):
        raise ValueError(f'{key}={value} is a fraction of the batch and must '
                         f'lie in {lower}, 1]; give an int for a count')
    return float(value)


@MODELS.register_module()
class UNIXDataPreprocessor(DeviceClsDataPreprocessor):
    """:class:`DeviceClsDataPreprocessor` plus uncertainty-aware mixup.

    UNIX (`Xu et al., 2023 <https://arxiv.org/abs/2012.09413>`_) ranks a batch
    by the student's uncertainty, mixes the confident samples into each other
    and keeps the ``k`` most informative ones, so the teacher and the
    student's training step see ``k`` instead of ``N`` samples.

    Normalisation and everything else of :class:`DeviceClsDataPreprocessor`
    is unchanged: :meth:`forward` only copies, augments and normalises. The
    mixup needs the student's logits, so :class:`ClassificationDistiller`
    calls :meth:`mix_and_select` from its ``loss()``, which is also what
    MMEngine's DDP wrapper reaches.

    Note:
        With ``u`` the uncertainty, ``r = argsort(u, descending)`` and
        ``j = 0..N-1`` the rank position (steps 2-6 in docs/algorithm.md):

        .. math::
            m_j = \\sigma\\big(w (j/N - (2b-1)/(2N))\\big), \\quad
            \\tilde x_j = (1 - \\lambda m_j) x_{r_j} + \\lambda m_j x_{\\pi_j}

        with one ``λ ~ Beta(α, α)`` and one permutation ``π`` per batch, and
        only ``x̃_0 .. x̃_{k-1}`` are kept.

    Args:
        num_selected (int | float, optional): ``k``, samples kept for the
            teacher and the student's training step; an int, or a fraction
            of the actual batch (0.75 keeps 48 of 64). Defaults to 0.75
            unless ``compute_budget`` is given.
        num_clean (int | float): ``b``, rank positions whose mixing weight
            is ~0; an int or a fraction of the batch. Defaults to 0.5.
        sharpness (float): ``w``, steepness of the ramp. Defaults to 10.
        mix_alpha (float): ``α`` of ``Beta(α, α)``. Defaults to 1.
        scorer (dict): Uncertainty scorer config, a registered
            ``BaseScorer``. Defaults to ``dict(type='EntropyScorer')``.
        compute_budget (float, optional): Instead of ``num_selected``, the
            target compute ratio against KD (paper convention; see
            "Compute budget: solving for k" in docs/algorithm.md); ``k/N``
            is solved from fvcore's ``F_t``/``F_s`` at the first batch by
            :meth:`apply_compute_budget`.
        **kwargs: Passed to :class:`DeviceClsDataPreprocessor` (``mean``,
            ``std``, ``num_classes``, ``train_augment``...).
            ``batch_augments`` is refused: UNIX is the batch mixup.
    """

    def __init__(self,
                 num_selected: Optional[SampleCount] = None,
                 num_clean: SampleCount = 0.5,
                 sharpness: float = 10.,
                 mix_alpha: float = 1.,
                 scorer: dict = dict(type='EntropyScorer'),
                 compute_budget: Optional[float] = None,
                 **kwargs):
        if kwargs.get('batch_augments'):
            raise ValueError(f'{KEY}.batch_augments cannot be combined with '
                             'UNIXDataPreprocessor, which mixes the batch '
                             'itself')
        super().__init__(**kwargs)
        if compute_budget is not None:
            if num_selected is not None:
                raise ValueError(f'{KEY}: give num_selected={num_selected} or '
                                 f'compute_budget={compute_budget}, not both')
            if isinstance(compute_budget, bool) or not isinstance(
                    compute_budget, Real) or not 0 < compute_budget <= 1:
                raise ValueError(
                    f'{KEY}.compute_budget={compute_budget!r} must be a '
                    'fraction of the cost of KD in (0, 1]')
        elif num_selected is None:
            num_selected = 0.75
        self.compute_budget = compute_budget
        # With a budget, k is unknown until the FLOPs are measured.
        self.num_selected = None if num_selected is None else _check_count(
            num_selected, f'{KEY}.num_selected', allow_zero=False)
        self.num_clean = _check_count(
            num_clean, f'{KEY}.num_clean', allow_zero=True)
        if type(self.num_selected) is type(self.num_clean) and \
                self.num_clean > self.num_selected:
            raise ValueError(f'{KEY}.num_clean={num_clean} must not exceed '
                             f'num_selected={num_selected}')
        for key, value in (('sharpness', sharpness), ('mix_alpha', mix_alpha)):
            # inf passes `> 0` but makes λ, or the ramp, NaN.
            if isinstance(value, bool) or not isinstance(value, Real) \
                    or not 0 < value < math.inf:
                raise ValueError(f'{KEY}.{key}={value!r} must be a positive '
                                 'number, and finite')
        self.sharpness = float(sharpness)
        self.mix_alpha = float(mix_alpha)
        self.scorer = build_scorer(scorer, key=f'{KEY}.scorer')
        # The largest batch seen so far tells a short final batch (which may
        # hold fewer than an int num_selected) from a misconfiguration.
        self._largest_batch = 0

    @property
    def needs_compute_cost(self) -> bool:
        """Whether :meth:`apply_compute_budget` must run before mixing."""
        return self.num_selected is None

    def apply_compute_budget(self, cost) -> float:
        """Set ``k/N`` so that UNIX costs ``compute_budget`` times KD.

        Args:
            cost (ComputeCost): The per-sample flops of teacher and student.

        Returns:
            float: The chosen ``k/N``.
        """
        fraction = cost.selected_fraction(
            self.compute_budget, key=f'{KEY}.compute_budget')
        if isinstance(self.num_clean, float) and self.num_clean > fraction:
            raise ValueError(
                f'{KEY}.compute_budget={self.compute_budget} keeps '
                f'{fraction:.3f} of each batch, fewer than num_clean='
                f'{self.num_clean}; raise the budget or lower num_clean')
        self.num_selected = fraction
        return fraction

    def resolve_counts(self, batch_size: int) -> tuple:
        """``(k, b)`` for a batch of ``batch_size`` samples.

        Fractions round to the nearest count (``k`` at least 1). An int ``k``
        larger than the first batch is an error; on a short final batch it is
        capped at the batch size, and ``b`` at ``k``.
        """
        if self.needs_compute_cost:
            raise RuntimeError(
                f'{KEY}.compute_budget={self.compute_budget}: call '
                'apply_compute_budget() before the first batch (the '
                'distiller does)')
        self._largest_batch = max(self._largest_batch, batch_size)
        k, b = (
            self.count(value, batch_size)
            for value in (self.num_selected, self.num_clean))
        k = max(k, 1)
        if k > self._largest_batch:
            raise ValueError(
                f'{KEY}.num_selected={self.num_selected} exceeds the batch '
                f'size {batch_size}; lower it or give a fraction of the '
                'batch such as 0.75')
        if b > k and batch_size == self._largest_batch:
            raise ValueError(
                f'{KEY}.num_clean={self.num_clean} gives b={b} clean samples,'
                f' more than num_selected={self.num_selected} (k={k}) at '
                f'batch size {batch_size}')
        k = min(k, batch_size)
        return k, min(b, k)

    @staticmethod
    def count(value: SampleCount, batch_size: int) -> int:
        """Samples that an int count or a fraction means in a batch."""
        if isinstance(value, int):
            return value
        # Round half up; Python's round() would send 6.5 to 6 but 7.5 to 8.
        return int(math.floor(value * batch_size + 0.5))

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """Step 2: ``(N,)`` uncertainty of each sample from ``(N, C)`` student
        logits; higher is more uncertain."""
        return self.scorer(logits)

    @staticmethod
    def rank(uncertainty: torch.Tensor) -> torch.Tensor:
        """Step 3: ``(N,)`` batch positions from most to least uncertain."""
        return torch.sort(uncertainty, descending=True, stable=True).indices

    def ramp(self,
             batch_size: int,
             num_clean: int,
             device=None) -> torch.Tensor:
        """Step 4: ``(N,)`` mixing ramp over rank positions.

        ``m_j = sigmoid(w * (j/N - (2b-1)/(2N)))``: ~0 for the ``b`` most
        uncertain positions, ~1 after them.
        """
        positions = torch.arange(batch_size, device=device) / batch_size
        centre = (2 * num_clean - 1) / (2 * batch_size)
        return torch.sigmoid(self.sharpness * (positions - centre))

    def sample_lambda(self) -> float:
        """One ``λ ~ Beta(α, α)`` per batch (step 5)."""
        return float(np.random.beta(self.mix_alpha, self.mix_alpha))

    @staticmethod
    def mix(inputs: torch.Tensor,
            labels: torch.Tensor,
            ranks: torch.Tensor,
            mask: torch.Tensor,
            permutation: torch.Tensor,
            num_clean: int = 0) -> MixedBatch:
        """Steps 5-6: mix and keep the first ``k`` rank positions.

        Args:
            inputs (Tensor): ``(N, C, H, W)`` normalised batch.
            labels (Tensor): ``(N,)`` labels.
            ranks (Tensor): ``(N,)`` rank order from :meth:`rank`.
            mask (Tensor): ``(k,)`` values ``λ·m_j`` of the kept positions.
            permutation (Tensor): ``(k,)`` batch positions to mix in: the
                first ``k`` entries of a permutation of ``0..N-1``.
            num_clean (int): ``b``, recorded for hard-sample statistics.

        Returns:
            MixedBatch: ``x̃_j = (1 - mask_j)·x[r_j] + mask_j·x[π_j]`` for
            ``j < k`` with both source labels and the mask.
        """
        kept = ranks[:mask.numel()]
        weight = mask.to(inputs.dtype).view(-1, *([1] * (inputs.dim() - 1)))
        mixed = (1 - weight) * inputs[kept] + weight * inputs[permutation]
        return MixedBatch(mixed, labels[kept], labels[permutation], mask,
                          ranks, num_clean)

    def mix_and_select(self, inputs: torch.Tensor, labels: torch.Tensor,
                       student_logits: torch.Tensor) -> MixedBatch:
        """Steps 2-6 for a batch that the student has scored (step 1).

        Args:
            inputs (Tensor): ``(N, C, H, W)`` normalised batch.
            labels (Tensor): ``(N,)`` labels.
            student_logits (Tensor): ``(N, num_classes)`` from the student's
                scoring forward.

        Returns:
            MixedBatch: the ``k`` samples to distil on.
        """
        batch_size = inputs.size(0)
        k, b = self.resolve_counts(batch_size)
        ranks = self.rank(self.score(student_logits))
        mask = self.sample_lambda() * self.ramp(batch_size, b,
                                                inputs.device)[:k]
        permutation = torch.randperm(batch_size, device=inputs.device)[:k]
        return self.mix(inputs, labels, ranks, mask, permutation, b)


#: Keys that only UNIXDataPreprocessor takes.
UNIX_ONLY_KEYS = frozenset(
    inspect.signature(UNIXDataPreprocessor).parameters) - {'kwargs'}


def kd_preprocessor_config(unix_cfg: dict) -> dict:
    """The conventional-KD preprocessor of a UNIX preprocessor config.

    Args:
        unix_cfg (dict): A ``UNIXDataPreprocessor`` config.

    Returns:
        dict: A :class:`DeviceClsDataPreprocessor` config with the same
        normalisation and augmentation, without the UNIX keys.
    """
    kd_cfg = {
        key: value
        for key, value in unix_cfg.items() if key not in UNIX_ONLY_KEYS
    }
    kd_cfg['type'] = 'mmunix.DeviceClsDataPreprocessor'
    return kd_cfg
