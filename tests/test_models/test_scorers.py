"""Tests for ``mmunix/models/scorers``: UNIX step 2 and its config checks."""
import math
import re

import pytest
import torch
from mmengine.config import ConfigDict
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS

from mmunix.models.scorers import (BaseScorer, EntropyScorer,
                                   LeastConfidenceScorer, MarginScorer,
                                   RandomScorer, build_scorer,
                                   registered_scorer_names)
from mmunix.registry import TASK_UTILS

BUILTIN_NAMES = [
    'EntropyScorer', 'LeastConfidenceScorer', 'MarginScorer', 'RandomScorer'
]
DETERMINISTIC = [EntropyScorer, LeastConfidenceScorer, MarginScorer]
CHOICES = ('choose one of: EntropyScorer, LeastConfidenceScorer, '
           'MarginScorer, RandomScorer')


def logits_of(*probs) -> torch.Tensor:
    """Logits whose softmax is each row of ``probs``."""
    return torch.tensor(probs).log()


@pytest.fixture
def register():
    """Register objects in a registry for one test, then remove them."""
    added = []

    def _register(registry, obj):
        registry.register_module(module=obj)
        added.append((registry, obj.__name__))
        return obj

    yield _register
    for registry, name in added:
        registry.module_dict.pop(name)


@pytest.mark.parametrize('scorer, expected', [
    (EntropyScorer(), math.log(4)),
    (LeastConfidenceScorer(), 0.75),
    (MarginScorer(), 0.0),
])
def test_uniform_prediction_gets_the_maximal_score(scorer, expected):
    scores = scorer(logits_of([0.25] * 4))
    torch.testing.assert_close(scores, torch.tensor([expected]))


@pytest.mark.parametrize('scorer, expected', [
    (EntropyScorer(),
     -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))),
    (LeastConfidenceScorer(), 1 - 0.7),
    (MarginScorer(), -(0.7 - 0.2)),
])
def test_scores_match_hand_computed_values(scorer, expected):
    scores = scorer(logits_of([0.7, 0.2, 0.1]))
    torch.testing.assert_close(scores, torch.tensor([expected]))


@pytest.mark.parametrize('scorer_cls', DETERMINISTIC)
def test_more_uncertain_predictions_score_higher(scorer_cls):
    logits = logits_of([1 / 3] * 3, [0.5, 0.3, 0.2], [0.9, 0.05, 0.05],
                       [0.98, 0.01, 0.01])
    scores = scorer_cls()(logits)
    assert torch.all(scores[:-1] > scores[1:]), scores


@pytest.mark.parametrize('scorer_cls', DETERMINISTIC)
def test_scores_ignore_a_constant_shift_of_the_logits(scorer_cls):
    logits = torch.randn(5, 7)
    torch.testing.assert_close(scorer_cls()(logits + 30.),
                               scorer_cls()(logits))


def test_entropy_is_finite_for_masked_classes():
    # log(0) = -inf: a class the classifier rules out entirely.
    scores = EntropyScorer()(logits_of([0.5, 0.5, 0.0]))
    torch.testing.assert_close(scores, torch.tensor([math.log(2)]))


def test_entropy_is_stable_for_extreme_logits():
    scores = EntropyScorer()(torch.tensor([[1000., -1000., 0.]]))
    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores, torch.zeros(1))


# The meta device has no data: any host synchronisation (``.item()``,
# data-dependent Python control flow) raises there, and the output device
# shows that no tensor was created on the default device.
DEVICES = ['cpu', 'meta'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('scorer_cls', DETERMINISTIC + [RandomScorer])
def test_scores_are_one_per_sample_on_the_logits_device(scorer_cls, device):
    logits = torch.randn(6, 10, device=device)
    scores = scorer_cls()(logits)
    assert scores.shape == (6, )
    assert scores.device == logits.device
    assert scores.dtype == logits.dtype


@pytest.mark.parametrize('scorer_cls', DETERMINISTIC + [RandomScorer])
def test_scores_carry_no_autograd_graph(scorer_cls):
    logits = torch.randn(4, 3, requires_grad=True)
    assert not scorer_cls()(logits).requires_grad


@pytest.mark.parametrize('scorer_cls', DETERMINISTIC + [RandomScorer])
def test_logits_must_be_two_dimensional(scorer_cls):
    with pytest.raises(ValueError, match=r'shape \(N, C\), got \(4,\)'):
        scorer_cls()(torch.randn(4))


def test_margin_needs_two_classes():
    with pytest.raises(ValueError, match='at least 2 classes'):
        MarginScorer()(torch.randn(4, 1))


def test_random_scores_are_uniform_and_ignore_the_logits():
    scores = RandomScorer()(torch.zeros(10000, 3))
    assert scores.min() >= 0 and scores.max() < 1
    assert abs(scores.mean().item() - 0.5) < 0.02
    assert len(scores.unique()) > 9900  # equal logits, different scores


def test_random_scores_are_reproducible_under_manual_seed():
    logits = torch.randn(8, 5)
    torch.manual_seed(42)
    first = RandomScorer()(logits)
    second = RandomScorer()(logits)
    torch.manual_seed(42)
    torch.testing.assert_close(RandomScorer()(logits), first)
    assert not torch.equal(first, second)


@pytest.mark.parametrize('name', BUILTIN_NAMES)
def test_build_scorer_builds_registered_names(name):
    for cfg in (dict(type=name), ConfigDict(type=name),
                dict(type=f'mmunix.{name}')):
        scorer = build_scorer(cfg)
        assert type(scorer).__name__ == name


def test_build_scorer_passes_built_scorers_and_classes_through():
    scorer = MarginScorer()
    assert build_scorer(scorer) is scorer
    assert isinstance(build_scorer(dict(type=MarginScorer)), MarginScorer)


def test_registered_scorers_are_the_four_builtins():
    assert registered_scorer_names() == BUILTIN_NAMES


def test_a_typo_names_the_key_and_lists_the_scorers():
    with pytest.raises(ValueError) as info:
        build_scorer(dict(type='Entrpy'))
    assert str(info.value) == (
        "model.data_preprocessor.scorer.type='Entrpy' is not a registered "
        'scorer; ' + CHOICES)


@pytest.mark.parametrize('bad_type', ['', 3, None])
def test_the_error_names_the_given_key(bad_type):
    message = f'my.scorer.type={bad_type!r} is not a registered scorer; '
    with pytest.raises(ValueError, match=re.escape(message + CHOICES)):
        build_scorer(dict(type=bad_type), key='my.scorer')


def test_a_registered_non_scorer_is_refused(register):

    class NotAScorer:

        def __call__(self, logits):
            return logits.sum(1)

    register(TASK_UTILS, NotAScorer)
    with pytest.raises(ValueError) as info:
        build_scorer(dict(type='NotAScorer'))
    assert str(info.value) == (
        "model.data_preprocessor.scorer.type='NotAScorer' is registered but "
        'is not a BaseScorer subclass; ' + CHOICES)
    with pytest.raises(ValueError, match="NotAScorer'> is not a BaseScorer"):
        build_scorer(dict(type=NotAScorer))


def test_a_config_without_type_is_refused():
    with pytest.raises(ValueError, match='scorer has no `type`; choose one'):
        build_scorer(dict())
    with pytest.raises(TypeError, match='model.data_preprocessor.scorer'):
        build_scorer('EntropyScorer')


@pytest.mark.parametrize(
    'registry', [TASK_UTILS, MMPRETRAIN_TASK_UTILS], ids=['mmunix', 'parent'])
def test_a_downstream_scorer_is_listed_and_buildable(register, registry):

    class MaxLogitScorer(BaseScorer):
        """Low top logit = uncertain."""

        def __init__(self, scale=1.0):
            self.scale = scale

        def score(self, logits):
            return -self.scale * logits.amax(dim=1)

    register(registry, MaxLogitScorer)
    assert registered_scorer_names() == sorted(BUILTIN_NAMES +
                                               ['MaxLogitScorer'])
    scorer = build_scorer(dict(type='MaxLogitScorer', scale=2.0))
    assert isinstance(scorer, MaxLogitScorer) and scorer.scale == 2.0
    torch.testing.assert_close(
        scorer(torch.tensor([[1., 3.], [0., 0.5]])), torch.tensor([-6., -1.]))
    with pytest.raises(ValueError, match='MarginScorer, MaxLogitScorer, '):
        build_scorer(dict(type='Entrpy'))
