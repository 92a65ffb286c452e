"""UNIXDataPreprocessor: steps 2-6 of docs/algorithm.md, value for value."""
import math

import numpy as np
import pytest
import torch
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample

from mmunix.models.data_preprocessors import MixedBatch, UNIXDataPreprocessor

NORM = dict(mean=[10., 20., 30.], std=[2., 4., 8.], num_classes=5)


def reference_ramp(num, num_clean, sharpness):
    """The mixing ramp of docs/algorithm.md (step 4), scalar by scalar."""
    return [
        1 / (1 + math.exp(-sharpness * (j / num - (2 * num_clean - 1) /
                                        (2 * num)))) for j in range(num)
    ]


def test_ramp_matches_the_worked_example():
    ramp = UNIXDataPreprocessor(sharpness=10).ramp(64, 32)
    assert ramp[0].item() == pytest.approx(0.0072, abs=5e-5)
    assert ramp[32].item() == pytest.approx(0.52, abs=5e-3)
    assert ramp[47].item() == pytest.approx(0.918, abs=5e-4)
    assert ramp.tolist() == pytest.approx(reference_ramp(64, 32, 10), abs=1e-6)


def test_mix_follows_the_formula_for_a_given_rank_lambda_and_permutation():
    torch.manual_seed(0)
    inputs = torch.randn(6, 3, 2, 2)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    ranks = torch.tensor([4, 1, 5, 0, 3, 2])
    lam, k = 0.3, 4
    ramp = UNIXDataPreprocessor(sharpness=10).ramp(6, 2)
    mask = lam * ramp[:k]
    permutation = torch.tensor([2, 0, 5, 1, 4, 3])[:k]

    batch = UNIXDataPreprocessor.mix(inputs, labels, ranks, mask, permutation)

    for j in range(k):
        m = lam * reference_ramp(6, 2, 10)[j]
        expected = (1 - m) * inputs[ranks[j]] + m * inputs[permutation[j]]
        torch.testing.assert_close(batch.inputs[j], expected)
    assert batch.labels_a.tolist() == [4, 1, 0, 0]
    assert batch.labels_b.tolist() == [2, 0, 0, 1]
    assert batch.mask.tolist() == pytest.approx(mask.tolist())


def test_keeps_the_k_most_uncertain_clean_ones_first():
    preprocessor = UNIXDataPreprocessor(
        num_selected=3, num_clean=2, scorer=dict(type='EntropyScorer'))
    # Sample i has entropy rising with these logit gaps: 4 is the most
    # uncertain, then 1, then 3, then 0, then 2.
    gaps = torch.tensor([3., 1., 5., 2., 0.])
    logits = torch.stack([gaps, torch.zeros(5)], dim=1)
    inputs = torch.arange(5.).view(5, 1, 1, 1)
    labels = torch.arange(5)
    np.random.seed(0)
    batch = preprocessor.mix_and_select(inputs, labels, logits)

    assert batch.ranks.tolist() == [4, 1, 3, 0, 2]
    assert batch.labels_a.tolist() == [4, 1, 3]
    assert batch.inputs.shape == (3, 1, 1, 1)
    # The two clean positions are nearly unmixed: mask <= lambda * m_1.
    assert (batch.mask[:2] < 0.25).all()


def test_the_mask_is_one_beta_alpha_draw_times_the_ramp():
    preprocessor = UNIXDataPreprocessor(
        num_selected=6, num_clean=4, sharpness=10., mix_alpha=0.2)
    np.random.seed(3)
    expected_lambda = np.random.beta(0.2, 0.2)
    np.random.seed(3)
    batch = preprocessor.mix_and_select(
        torch.zeros(8, 1, 1, 1), torch.arange(8), torch.randn(8, 4))
    torch.testing.assert_close(
        batch.mask,
        expected_lambda * preprocessor.ramp(8, 4)[:6],
        rtol=0,
        atol=0)


def test_fractions_follow_the_actual_batch_size():
    preprocessor = UNIXDataPreprocessor(num_selected=0.75, num_clean=0.5)
    assert preprocessor.resolve_counts(64) == (48, 32)
    assert preprocessor.resolve_counts(32) == (24, 16)
    assert preprocessor.resolve_counts(10) == (8, 5)


def test_int_counts_are_capped_on_a_short_final_batch():
    preprocessor = UNIXDataPreprocessor(num_selected=48, num_clean=32)
    assert preprocessor.resolve_counts(64) == (48, 32)
    assert preprocessor.resolve_counts(20) == (20, 20)


def test_numpy_ints_are_counts_not_fractions():
    preprocessor = UNIXDataPreprocessor(
        num_selected=np.int64(48), num_clean=np.int32(32))
    assert preprocessor.resolve_counts(64) == (48, 32)


def test_fractions_round_half_up():
    # 0.25 of 26 is 6.5: b = 7 (Python's round() would give 6).
    assert UNIXDataPreprocessor(
        num_selected=1.0, num_clean=0.25).resolve_counts(26) == (26, 7)


def test_int_k_larger_than_the_batch_names_the_key():
    preprocessor = UNIXDataPreprocessor(num_selected=48, num_clean=8)
    with pytest.raises(
            ValueError,
            match=r'model\.data_preprocessor\.num_selected=48 '
            r'exceeds the batch size 32'):
        preprocessor.resolve_counts(32)


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_selected=32,
          num_clean=40), r'num_clean=40 must not exceed num_selected=32'),
    (dict(num_selected=0.5,
          num_clean=0.75), r'num_clean=0.75 must not exceed num_selected=0.5'),
    (dict(num_selected=0), r'num_selected=0 must be >= 1'),
    (dict(num_selected=1.5), r'num_selected=1.5 is a fraction'),
    (dict(num_clean=-1), r'num_clean=-1 must be >= 0'),
    (dict(num_selected='48'), r'num_selected=\'48\' must be an int'),
    (dict(sharpness=0), r'sharpness=0 must be a positive number'),
    (dict(sharpness=-3.), r'sharpness=-3.0 must be a positive number'),
    (dict(mix_alpha=0.), r'mix_alpha=0.0 must be a positive number'),
    (dict(mix_alpha=float('inf')), r'mix_alpha=inf must be a positive '
     'number, and finite'),
    (dict(sharpness=float('inf')), r'sharpness=inf must be a positive '
     'number, and finite'),
    (dict(scorer=dict(type='MarginScorer', k=2)),
     r'scorer: MarginScorer\(\) takes no arguments'),
    (dict(scorer=dict(type='Entrpy')),
     r"scorer.type='Entrpy' is not a registered scorer; choose one of: "
     r'EntropyScorer, LeastConfidenceScorer, MarginScorer, RandomScorer'),
    (dict(batch_augments=dict(augments=dict(type='Mixup', alpha=1.))),
     r'batch_augments cannot be combined'),
])
def test_impossible_settings_fail_at_build_naming_the_key(kwargs, message):
    with pytest.raises((ValueError, TypeError),
                       match=r'model\.data_preprocessor\.' + message):
        UNIXDataPreprocessor(**kwargs)


def test_normalisation_is_exactly_mmpretrains():
    data = dict(
        inputs=torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8),
        data_samples=[DataSample().set_gt_label(i) for i in range(4)])
    ours = UNIXDataPreprocessor(**NORM)(dict(data), training=True)
    theirs = ClsDataPreprocessor(**NORM)(dict(data), training=True)
    assert torch.equal(ours['inputs'], theirs['inputs'])
    assert [s.gt_label.item() for s in ours['data_samples']] == [0, 1, 2, 3]


def test_soft_targets_are_the_mixed_one_hot_labels():
    batch = MixedBatch(
        torch.zeros(2, 1),
        torch.tensor([0, 2]),
        torch.tensor([1, 2]),
        mask=torch.tensor([0.25, 0.5]))
    assert batch.soft_targets(3).tolist() == [[0.75, 0.25, 0.], [0., 0., 1.]]
    clean = MixedBatch.clean(torch.zeros(2, 1), torch.tensor([1, 0]))
    assert clean.soft_targets(2).tolist() == [[0., 1.], [1., 0.]]


def test_compute_budget_sets_k_from_the_flops():
    from mmunix.utils.compute_cost import ComputeCost
    preprocessor = UNIXDataPreprocessor(compute_budget=0.9, num_clean=0.25)
    assert preprocessor.needs_compute_cost
    with pytest.raises(RuntimeError, match='apply_compute_budget'):
        preprocessor.resolve_counts(64)
    cost = ComputeCost(3.06, 1.0)
    fraction = preprocessor.apply_compute_budget(cost)
    assert fraction == pytest.approx(0.9 - 1 / 5.06)
    assert cost.unix_ratio(fraction) == pytest.approx(0.9)
    assert preprocessor.resolve_counts(64) == (45, 16)


def test_budget_and_num_selected_together_is_an_error():
    with pytest.raises(
            ValueError,
            match=r'model\.data_preprocessor: give num_selected=48 '
            'or compute_budget=0.8, not both'):
        UNIXDataPreprocessor(num_selected=48, compute_budget=0.8)


@pytest.mark.parametrize('budget', [0, 1.5, -0.2, '0.8'])
def test_budget_outside_zero_one_fails_at_build(budget):
    with pytest.raises(
            ValueError,
            match=r'compute_budget=.* must be a '
            'fraction of the cost of KD'):
        UNIXDataPreprocessor(compute_budget=budget)


def test_budget_below_num_clean_is_an_error():
    from mmunix.utils.compute_cost import ComputeCost
    preprocessor = UNIXDataPreprocessor(compute_budget=0.5, num_clean=0.5)
    with pytest.raises(ValueError, match='fewer than num_clean=0.5'):
        preprocessor.apply_compute_budget(ComputeCost(3.06, 1.0))
