"""Statistics of reports: bootstrap intervals, paired tests, Bradley-Terry ratings.

Expected values are worked out by hand (or from the MLE equations) in the comments."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binom

from vlm_eval.report import _statistics
from vlm_eval.report._statistics import (
    ELO_SCALE,
    Interval,
    bootstrap_mean,
    fit_bradley_terry,
    is_binary,
    mcnemar_exact,
    paired_bootstrap,
    pairwise_wins,
    rate_models,
)

# --- McNemar ------------------------------------------------------------------------------------


def test_mcnemar_exact_counts_discordant_pairs_and_gives_the_binomial_p_value() -> None:
    # 1 pair right only in base, 6 right only in new, 2 right in both, 1 wrong in both.
    base = [1, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    new = [0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    test = mcnemar_exact(base, new)
    assert (test.base_only, test.new_only) == (1, 6)
    # Two-sided: 2 * P(X <= 1), X ~ Binomial(7, 1/2) = 2 * (C(7,0) + C(7,1)) / 2^7 = 0.125.
    assert test.p_value == pytest.approx(0.125, rel=1e-12)
    assert mcnemar_exact(new, base).p_value == pytest.approx(0.125, rel=1e-12)


def test_mcnemar_exact_edge_cases() -> None:
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0  # no discordant pairs
    # 3 each way: 2 * P(X <= 3), X ~ Binomial(6, 1/2) is above 1, so 1.
    assert mcnemar_exact([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]).p_value == pytest.approx(1.0)
    # 10 only-new: 2 / 2^10.
    assert mcnemar_exact([False] * 10, [True] * 10).p_value == pytest.approx(2 / 1024, rel=1e-12)


def test_mcnemar_exact_rejects_non_binary_and_unpaired_scores() -> None:
    with pytest.raises(ValueError, match="not all 0 or 1"):
        mcnemar_exact([1, 0, 0.5], [1, 0, 1])
    with pytest.raises(ValueError, match="base and new have 3 and 2 scores: they must be paired"):
        mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="empty"):
        mcnemar_exact([], [])


def test_is_binary() -> None:
    assert is_binary([0, 1, 1.0, 0.0])
    assert is_binary(np.array([True, False]))
    assert not is_binary([0, 1, 0.5])
    assert not is_binary([0, 1, np.nan])
    assert not is_binary([0, 2])
    assert not is_binary([])
    assert not is_binary(["0", "1"])


# --- bootstrap of a mean ------------------------------------------------------------------------


def test_bootstrap_mean_of_constant_values_is_exactly_that_value() -> None:
    assert bootstrap_mean([0.1, 0.1, 0.1]) == Interval(0.1, 0.1)
    assert bootstrap_mean(np.full(5000, 0.7)) == Interval(0.7, 0.7)


def test_bootstrap_mean_on_enumerable_cases() -> None:
    # [0, 1]: resample means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: both 2.5% tails
    # lie in the extreme values.
    assert bootstrap_mean([0, 1]) == Interval(0.0, 1.0)
    # [0, 0, 0, 1]: mean = Binomial(4, 1/4) / 4. P(0) = 0.316 > 2.5%, so the low end is 0;
    # P(mean = 1) = 1/256 < 2.5% < P(mean >= 3/4) = 13/256, so the high end is 3/4.
    assert bootstrap_mean([0, 0, 0, 1]) == Interval(0.0, 0.75)


@pytest.mark.parametrize(
    "values",
    [
        # few distinct values: multinomial over them
        np.random.default_rng(1).binomial(10, 0.3, size=20_000).astype(float),
        # 3000 distinct values: multinomial in blocks of values
        np.random.default_rng(2).integers(0, 3000, size=20_000) / 3000,
        # continuous: resampled indices
        np.random.default_rng(3).normal(5, 2, size=10_000),
    ],
    ids=["few-distinct", "blocks", "continuous"],
)
def test_bootstrap_mean_matches_the_normal_approximation_on_large_samples(
    values: np.ndarray,
) -> None:
    interval = bootstrap_mean(values, resamples=2000, seed=5)
    mean = values.mean()
    half = 1.96 * values.std() / math.sqrt(len(values))
    # Each end's Monte Carlo error with 2000 resamples is about 3% of the half-width.
    assert interval.low == pytest.approx(mean - half, abs=0.1 * half)
    assert interval.high == pytest.approx(mean + half, abs=0.1 * half)
    assert interval.high - interval.low == pytest.approx(2 * half, rel=0.1)


def test_bootstrap_mean_is_deterministic_given_the_seed() -> None:
    values = np.random.default_rng(0).integers(0, 2, size=214_000)  # VQAv2-sized exact match
    first = bootstrap_mean(values, seed=7)
    assert bootstrap_mean(values, seed=7) == first
    assert bootstrap_mean(values, seed=8) != first
    continuous = np.random.default_rng(0).random(5000)
    assert bootstrap_mean(continuous, seed=7) == bootstrap_mean(continuous, seed=7)
    assert bootstrap_mean(continuous, seed=7) != bootstrap_mean(continuous, seed=8)


def test_bootstrap_mean_intervals_nest_by_confidence() -> None:
    values = np.random.default_rng(0).random(500)
    narrow = bootstrap_mean(values, confidence=0.8)
    wide = bootstrap_mean(values, confidence=0.99)
    assert wide.low < narrow.low < values.mean() < narrow.high < wide.high


@pytest.mark.parametrize(
    ("values", "options", "message"),
    [
        ([], {}, "values is empty"),
        ([1.0, float("nan")], {}, "1 NaN or infinite"),
        ([1.0, float("inf")], {}, "1 NaN or infinite"),
        ([[1.0, 2.0]], {}, "one-dimensional"),
        (["a"], {}, "must be numbers"),
        ([1.0], {"confidence": 1.0}, "confidence must be between 0 and 1"),
        ([1.0], {"confidence": 0.0}, "confidence must be between 0 and 1"),
        ([1.0], {"resamples": 0}, "resamples must be at least 1"),
        ([1.0], {"resamples": 10.0}, "resamples must be an integer"),
    ],
)
def test_bootstrap_mean_rejects_bad_input(values: list, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_mean(values, **options)


# --- paired bootstrap ---------------------------------------------------------------------------


def test_paired_bootstrap_of_identical_scores_finds_no_difference() -> None:
    scores = np.random.default_rng(0).random(100)
    comparison = paired_bootstrap(scores, scores.copy())
    assert comparison.samples == 100
    assert comparison.delta == 0.0
    assert comparison.interval == Interval(0.0, 0.0)
    assert comparison.p_value == 1.0


def test_paired_bootstrap_finds_a_clear_improvement() -> None:
    base = np.random.default_rng(0).integers(0, 2, size=200).astype(float)
    new = base.copy()
    new[::2] += 1  # +1 on half the pairs: delta 0.5, its bootstrap sd is about 0.035
    comparison = paired_bootstrap(base, new, resamples=999)
    assert comparison.base_mean == base.mean()
    assert comparison.new_mean == new.mean()
    assert comparison.delta == comparison.new_mean - comparison.base_mean
    assert comparison.delta == pytest.approx(0.5)
    # No resample moves 0.5 away from the observed delta: the smallest possible p-value.
    assert comparison.p_value == 1 / 1000
    assert 0 < comparison.interval.low < 0.5 < comparison.interval.high
    # The reverse comparison is just as significant.
    assert paired_bootstrap(new, base, resamples=999).p_value == 1 / 1000


def test_paired_bootstrap_of_a_constant_shift() -> None:
    base = np.random.default_rng(0).integers(0, 8, size=50) / 4  # + 0.25 is exact
    comparison = paired_bootstrap(base, base + 0.25, resamples=99)
    assert comparison.interval == Interval(0.25, 0.25)
    assert comparison.p_value == 1 / 100


def test_paired_bootstrap_p_value_matches_its_exact_distribution() -> None:
    # Differences: 110 times +1, 90 times -1, so delta = 0.1. A resample with X differences of +1
    # has delta* = (2X - 200) / 200, X ~ Binomial(200, 0.55), and |delta* - delta| >= |delta|
    # exactly when |X - 110| >= 10 (boundary included).
    base = np.zeros(200)
    new = np.array([1.0] * 110 + [-1.0] * 90)
    comparison = paired_bootstrap(base, new, resamples=10_000, seed=1)
    expected = binom.cdf(100, 200, 0.55) + binom.sf(119, 200, 0.55)
    assert expected == pytest.approx(0.177, abs=1e-3)
    assert comparison.p_value == pytest.approx(expected, abs=0.015)  # Monte Carlo sd 0.004
    # The interval: 2.5% and 97.5% quantiles of (2X - 200) / 200, -0.04 and 0.24, give or take
    # a step of X (the 97.5% quantile is near a step: P(X <= 122) = 0.963, P(X <= 123) = 0.973).
    low, high = (2 * binom.ppf([0.025, 0.975], 200, 0.55) - 200) / 200
    assert (low, high) == pytest.approx((-0.04, 0.24))
    assert comparison.interval.low == pytest.approx(low, abs=0.021)
    assert comparison.interval.high == pytest.approx(high, abs=0.021)


def test_paired_bootstrap_is_deterministic_given_the_seed() -> None:
    rng = np.random.default_rng(0)
    base, new = rng.random(300), rng.random(300)
    assert paired_bootstrap(base, new, seed=3) == paired_bootstrap(base, new, seed=3)
    assert paired_bootstrap(base, new, seed=3) != paired_bootstrap(base, new, seed=4)


def test_paired_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="base and new have 10 and 9 scores: they must be paired"):
        paired_bootstrap(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="new has 1 NaN or infinite"):
        paired_bootstrap([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(ValueError, match="base is empty"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([1.0], [1.0], confidence=95)


# --- pairwise wins ------------------------------------------------------------------------------


def test_pairwise_wins_counts_wins_and_half_ties_over_shared_samples() -> None:
    nan = float("nan")
    scores = np.array(
        [
            [1.0, 0.0, 0.5],  # 0 > 2 > 1
            [0.0, 0.0, nan],  # 0 ties 1; 2 missing
            [nan, 1.0, 1.0],  # 1 ties 2; 0 missing
            [0.2, 0.7, 0.2],  # 1 > 0 = 2
        ]
    )
    # (0, 1): rows 0, 1, 3 -> 0 wins 1 + 0.5, 1 wins 0.5 + 1.
    # (0, 2): rows 0, 3 -> 0 wins 1 + 0.5, 2 wins 0.5.
    # (1, 2): rows 0, 2, 3 -> 1 wins 0.5 + 1, 2 wins 1 + 0.5.
    expected = np.array([[0.0, 1.5, 1.5], [1.5, 0.0, 1.5], [0.5, 1.5, 0.0]])
    np.testing.assert_array_equal(pairwise_wins(scores), expected)


def test_pairwise_wins_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(samples, models\) array"):
        pairwise_wins([1.0, 2.0])
    with pytest.raises(ValueError, match="1 model"):
        pairwise_wins([[1.0], [2.0]])
    with pytest.raises(ValueError, match="no samples"):
        pairwise_wins(np.zeros((0, 3)))


def test_rank_patterns_reproduce_pairwise_wins() -> None:
    # rate_models resamples distinct rank patterns instead of samples: both must agree.
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(500, 5)).astype(float)
    scores[rng.random(scores.shape) < 0.2] = np.nan
    patterns, counts = np.unique(_statistics._rank_patterns(scores), axis=0, return_counts=True)
    assert len(patterns) < len(scores)
    from_patterns = (counts @ _statistics._pattern_wins(patterns)).reshape(5, 5)
    np.testing.assert_array_equal(from_patterns, pairwise_wins(scores))


# --- Bradley-Terry ------------------------------------------------------------------------------


def test_bradley_terry_two_models() -> None:
    # A beats B 30 times and B beats A 10 times: p_A / p_B = 3.
    ratings = fit_bradley_terry([[0, 30], [10, 0]], prior=0)
    assert ratings[0] - ratings[1] == pytest.approx(400 * math.log10(3), abs=1e-9)
    assert ratings[0] - ratings[1] == pytest.approx(190.84850188786497, abs=1e-9)
    assert ratings.mean() == pytest.approx(1000, abs=1e-9)
    # Ties count half each way: 30 + 20/2 = 40 against 10 + 20/2 = 20.
    ties = pairwise_wins(np.array([[1.0, 0.0]] * 30 + [[0.0, 1.0]] * 10 + [[0.5, 0.5]] * 20))
    np.testing.assert_array_equal(ties, [[0, 40], [20, 0]])
    ratings = fit_bradley_terry(ties, prior=0)
    assert ratings[0] - ratings[1] == pytest.approx(400 * math.log10(2), abs=1e-9)
    assert math.isclose(ELO_SCALE, 400 / math.log(10))


def test_bradley_terry_prior_adds_virtual_ties() -> None:
    # With prior 2, each pair gets 1 more win each way; for two models the odds are then
    # (30 + 1) / (10 + 1).
    ratings = fit_bradley_terry([[0, 30], [10, 0]], prior=2)
    assert ratings[0] - ratings[1] == pytest.approx(ELO_SCALE * math.log(31 / 11), abs=1e-9)
    wins = np.random.default_rng(0).random((4, 4)) * 10
    np.testing.assert_allclose(
        fit_bradley_terry(wins, prior=3), fit_bradley_terry(wins + 1.5, prior=0), atol=1e-9
    )


def test_bradley_terry_three_models_hand_solved() -> None:
    # Strengths 4 : 2 : 1 fit every pair exactly (A-B 20:10, B-C 20:10, A-C 20:5), so they are
    # the MLE: ratings 400 log10(2) apart.
    ratings = fit_bradley_terry([[0, 20, 20], [10, 0, 20], [5, 10, 0]], prior=0)
    step = 400 * math.log10(2)
    np.testing.assert_allclose(ratings, [1000 + step, 1000, 1000 - step], atol=1e-9)
    # Rock-paper-scissors, each 2:1 over the next: everyone wins half their games.
    cycle = fit_bradley_terry([[0, 2, 1], [1, 0, 2], [2, 1, 0]], prior=0)
    np.testing.assert_allclose(cycle, [1000, 1000, 1000], atol=1e-9)


def test_bradley_terry_solves_the_likelihood_equations() -> None:
    # At the MLE every model's wins equal its expected wins: sum_j n_ij p_i / (p_i + p_j).
    wins = np.random.default_rng(0).random((6, 6)) * 20
    np.fill_diagonal(wins, 0)
    ratings = fit_bradley_terry(wins, prior=0)
    strength = np.exp((ratings - 1000) / ELO_SCALE)
    expected = ((wins + wins.T) * strength[:, None] / (strength[:, None] + strength)).sum(axis=1)
    np.testing.assert_allclose(wins.sum(axis=1), expected, rtol=1e-10)
    assert ratings.mean() == pytest.approx(1000, abs=1e-9)
    # Only the odds matter: ten times the games give the same ratings.
    np.testing.assert_allclose(fit_bradley_terry(10 * wins, prior=0), ratings, atol=1e-9)


def test_bradley_terry_converges_on_lopsided_counts() -> None:
    # 214,000 wins to none with a tiny prior: odds (214000 + 5e-7) / 5e-7, a 27 log-unit gap.
    ratings = fit_bradley_terry([[0, 214_000], [0, 0]], prior=1e-6)
    gap = ELO_SCALE * math.log((214_000 + 5e-7) / 5e-7)
    assert ratings[0] - ratings[1] == pytest.approx(gap, rel=1e-12)


def test_bradley_terry_needs_a_strongly_connected_graph_without_prior() -> None:
    never_wins = [[0, 5, 3], [2, 0, 4], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"not strongly connected .*\[2\].*use prior > 0"):
        fit_bradley_terry(never_wins, prior=0)
    ratings = fit_bradley_terry(never_wins, prior=1)
    assert np.all(np.isfinite(ratings))
    assert ratings[2] < ratings[1] and ratings[2] < ratings[0]
    # Two separate pairs that never met.
    with pytest.raises(ValueError, match="not strongly connected"):
        fit_bradley_terry([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], prior=0)


@pytest.mark.parametrize(
    ("wins", "prior", "message"),
    [
        ([[0, 1, 2], [1, 0, 2]], 1.0, "square"),
        ([[0]], 1.0, "at least 2 models"),
        ([[0, -1], [1, 0]], 1.0, "non-negative"),
        ([[0, np.nan], [1, 0]], 1.0, "finite"),
        ([[0, 1], [1, 0]], -1.0, "prior must be"),
    ],
)
def test_bradley_terry_rejects_bad_input(wins: list, prior: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_bradley_terry(wins, prior=prior)


# --- rating models ------------------------------------------------------------------------------


def _exact_match(accuracies: list[float], samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((samples, len(accuracies))) < accuracies).astype(float)


def test_rate_models_ranks_clearly_ordered_models() -> None:
    scores = _exact_match([0.9, 0.5, 0.1], 300, seed=0)
    ratings = rate_models([scores])
    assert [r.rank for r in ratings] == [1, 2, 3]
    for better, worse in itertools.pairwise(ratings):
        assert better.interval.low > worse.interval.high
    for rating in ratings:
        assert rating.interval.low < rating.rating < rating.interval.high
    assert np.mean([r.rating for r in ratings]) == pytest.approx(1000, abs=1e-9)
    observed = fit_bradley_terry(pairwise_wins(scores))
    np.testing.assert_allclose([r.rating for r in ratings], observed, atol=1e-9)


def test_rate_models_identical_models_share_a_rank() -> None:
    scores = _exact_match([0.7, 0.2], 300, seed=1)
    ratings = rate_models([scores[:, [0, 0, 1]]])
    assert [r.rank for r in ratings] == [1, 1, 3]
    assert ratings[0].rating == pytest.approx(ratings[1].rating, abs=1e-9)


def test_rate_models_with_one_outcome_pattern_has_no_uncertainty() -> None:
    # Every sample: model 0 beats model 1. All resamples are the data itself.
    scores = np.tile([1.0, 0.0], (300, 1))
    first, second = rate_models([scores], prior=1, resamples=50)
    gap = ELO_SCALE * math.log(300.5 / 0.5)
    assert first.rating - second.rating == pytest.approx(gap, abs=1e-9)
    assert first.interval.low == pytest.approx(first.rating, abs=1e-9)
    assert first.interval.high == pytest.approx(first.rating, abs=1e-9)
    assert (first.rank, second.rank) == (1, 2)


def test_rate_models_weights_tasks() -> None:
    first = _exact_match([0.8, 0.6, 0.3], 200, seed=2)
    second = _exact_match([0.2, 0.5, 0.9], 100, seed=3)
    second[:, 1] = np.nan  # model 1 lacks the second task
    alone = rate_models([first], seed=4, resamples=200)
    # A task weighted 0 changes nothing, not even the random draws.
    assert rate_models([first, second], task_weights=[1, 0], seed=4, resamples=200) == alone
    weighted = rate_models([first, second], task_weights=[0.5, 2.0], seed=4, resamples=200)
    wins = 0.5 * pairwise_wins(first) + 2.0 * pairwise_wins(second)
    np.testing.assert_allclose([r.rating for r in weighted], fit_bradley_terry(wins), atol=1e-9)
    default = rate_models([first, second], resamples=200)
    wins = pairwise_wins(first) + pairwise_wins(second)
    np.testing.assert_allclose([r.rating for r in default], fit_bradley_terry(wins), atol=1e-9)


def test_rate_models_is_deterministic_given_the_seed() -> None:
    rng = np.random.default_rng(5)
    tasks = [rng.random((400, 4)), _exact_match([0.6, 0.6, 0.5, 0.4], 300, seed=6)]
    assert rate_models(tasks, seed=1, resamples=200) == rate_models(tasks, seed=1, resamples=200)
    assert rate_models(tasks, seed=1, resamples=200) != rate_models(tasks, seed=2, resamples=200)


def test_rate_models_without_prior_needs_every_resample_connected() -> None:
    # Model 1 wins a single sample of 300: about 37% of resamples lack it.
    scores = np.tile([1.0, 0.0], (300, 1))
    scores[0] = [0.0, 1.0]
    with pytest.raises(ValueError, match="bootstrap resample"):
        rate_models([scores], prior=0, resamples=100)
    scores[:150] = [0.0, 1.0]
    ratings = rate_models([scores], prior=0, resamples=100)
    assert [r.rating for r in ratings] == pytest.approx([1000, 1000], abs=1e-9)


@pytest.mark.parametrize(
    ("tasks", "options", "message"),
    [
        ([], {}, "no tasks"),
        ([np.zeros((3, 2)), np.zeros((3, 3))], {}, "task 0 has 2 model columns but task 1 has 3"),
        ([np.zeros((3, 1))], {}, "at least 2 models"),
        ([np.zeros((0, 2))], {}, "task 0 scores has no samples"),
        ([np.zeros((3, 2))], {"task_weights": [1, 1]}, "2 task weights for 1 tasks"),
        ([np.zeros((3, 2))], {"task_weights": [-1]}, "task weights must be finite and >= 0"),
        ([np.zeros((3, 2))], {"resamples": 0}, "resamples must be at least 1"),
        ([np.zeros((3, 2))], {"confidence": 1.5}, "confidence"),
        ([np.full((3, 2), np.nan)], {"prior": 0}, "not strongly connected"),
    ],
)
def test_rate_models_rejects_bad_input(tasks: list, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate_models(tasks, **options)
