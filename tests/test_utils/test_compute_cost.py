"""The compute ratio and the budget -> k derivation of docs/algorithm.md."""
import pytest

from mmunix.utils.compute_cost import ComputeCost


@pytest.mark.parametrize('ratio, expected', [(3.06, 0.9476), (38.17, 0.7749)])
def test_ratio_reproduces_the_papers_figures(ratio, expected):
    cost = ComputeCost(teacher_flops=ratio, student_flops=1.0)
    assert cost.unix_ratio(0.75) == pytest.approx(expected, abs=5e-5)


def test_kd_is_exactly_the_reference_and_the_formula_is_as_documented():
    cost = ComputeCost(126_847_232, 41_224_448)
    f_t, f_s = cost.teacher_flops, cost.student_flops
    assert cost.total(0, 64, 64) / cost.kd(64) == 1.0
    assert cost.total(64, 48, 48) == 64 * f_s + 48 * f_t + 2 * 48 * f_s
    assert cost.kd(64) == 64 * f_t + 2 * 64 * f_s
    assert cost.unix_ratio(0.75) == pytest.approx(
        (64 * f_s + 48 * (f_t + 2 * f_s)) / (64 * (f_t + 2 * f_s)))


def test_backward_factor_two_counts_the_backward_as_two_forwards():
    cost = ComputeCost(3.0, 1.0, backward_factor=2.0)
    assert cost.kd(1) == 3.0 + 3 * 1.0
    assert cost.unix_ratio(0.75) == pytest.approx((1 + 0.75 * 6) / 6)
    with pytest.raises(ValueError, match='backward_factor=0'):
        ComputeCost(3.0, 1.0, backward_factor=0)


def test_connectors_count_as_student_training_not_as_scoring():
    cost = ComputeCost(3.0, 1.0, connector_flops=0.5)
    # A training sample runs the student and the connectors forward and
    # backward; a scoring forward runs the student alone.
    assert cost.total(4, 0, 0) == 4 * 1.0
    assert cost.total(0, 1, 1) == 3.0 + 2 * (1.0 + 0.5)
    assert cost.kd(2) == 2 * (3.0 + 3.0)
    assert cost.unix_ratio(0.75) == pytest.approx((1 + 0.75 * 6) / 6)
    assert cost.selected_fraction(cost.unix_ratio(0.5)) == pytest.approx(0.5)


def test_budget_inverts_the_ratio():
    cost = ComputeCost(3.06, 1.0)
    for fraction in (0.25, 0.5, 0.75, 0.8):
        budget = cost.unix_ratio(fraction)
        assert cost.selected_fraction(budget) == pytest.approx(fraction)


@pytest.mark.parametrize('budget', [1.2, 0.1, 0.0])
def test_infeasible_budget_names_the_key_and_the_bounds(budget):
    cost = ComputeCost(3.06, 1.0)
    # Scoring alone costs F_s / (F_t + 2 F_s) = 1 / 5.06 of KD.
    with pytest.raises(ValueError) as err:
        cost.selected_fraction(
            budget, key='model.data_preprocessor.'
            'compute_budget')
    assert f'model.data_preprocessor.compute_budget={budget} is infeasible' \
        in str(err.value)
    assert '0.1976' in str(err.value)
