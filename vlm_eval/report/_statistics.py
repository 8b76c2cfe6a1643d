"""Statistics of per-sample scores: bootstrap confidence intervals, paired significance tests
and Bradley-Terry (Elo-scale) ratings of models from per-sample pairwise outcomes.

Every function is pure: randomness comes only from ``np.random.default_rng(seed)``, so the same
inputs and seed give exactly the same outputs. SciPy (half a second to import) is imported by the
tests and ratings that use it: a report's confidence intervals need numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

ELO_SCALE: float = 400 / math.log(10)
"""Rating points per unit of log-strength: a 400-point gap means 10:1 odds of winning."""

# Largest block of resampled counts held at once (elements; 32 MiB of int64).
_BLOCK_ELEMENTS = 1 << 22
# Fewest categories per block, so that the number of blocks stays small even for many resamples.
_MIN_BLOCK_WIDTH = 1024
_FIT_TOLERANCE = 1e-10  # on ratings, in Elo points
_FIT_MAX_ITERATIONS = 200


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Paired bootstrap comparison of two runs' scores on the same samples."""

    samples: int
    base_mean: float
    new_mean: float
    delta: float
    interval: Interval
    p_value: float


@dataclass(frozen=True, slots=True)
class McNemarTest:
    """Exact McNemar test of two binary (right/wrong) scores on the same samples."""

    base_only: int
    new_only: int
    p_value: float


@dataclass(frozen=True, slots=True)
class Rating:
    """A model's Bradley-Terry rating (Elo scale), its bootstrap interval and its rank."""

    rating: float
    interval: Interval
    rank: int


def bootstrap_mean(
    values: ArrayLike, *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap confidence interval of the mean of ``values`` (1-D, finite floats)."""
    _check_bootstrap(resamples, confidence)
    means = _resampled_means(_scores(values, "values"), resamples, np.random.default_rng(seed))
    return _percentile_interval(means, confidence)


def paired_bootstrap(
    base: ArrayLike,
    new: ArrayLike,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare ``new`` with ``base`` scores of the same samples (in the same order).

    The interval is the percentile bootstrap interval of ``new_mean - base_mean``, resampling
    pairs together. The p-value is that of the two-sided paired bootstrap test of no difference:
    the resampled deltas, shifted to mean 0, are the null distribution, and
    ``p = (1 + #{|delta* - delta| >= |delta|}) / (1 + resamples)``.
    """
    _check_bootstrap(resamples, confidence)
    base_scores, new_scores = _pair(base, new)
    base_mean = float(base_scores.mean())
    new_mean = float(new_scores.mean())
    delta = new_mean - base_mean
    differences = new_scores - base_scores
    deltas = _resampled_means(differences, resamples, np.random.default_rng(seed))
    # Resampled deltas that equal |delta| in exact arithmetic must count as extreme, whatever
    # the rounding: with discrete scores such ties are common.
    slack = 1e-9 * float(np.abs(differences).max())
    extreme = int(np.count_nonzero(np.abs(deltas - delta) >= abs(delta) - slack))
    return PairedComparison(
        samples=len(differences),
        base_mean=base_mean,
        new_mean=new_mean,
        delta=delta,
        interval=_percentile_interval(deltas, confidence),
        p_value=(1 + extreme) / (1 + resamples),
    )


def is_binary(values: ArrayLike) -> bool:
    """Whether every value is exactly 0 or 1 (an exact-match style score); false when empty."""
    array = np.asarray(values)
    if array.size == 0:
        return False
    if array.dtype == np.bool_:
        return True
    if not np.issubdtype(array.dtype, np.number):
        return False
    return bool(np.all((array == 0) | (array == 1)))


def mcnemar_exact(base: ArrayLike, new: ArrayLike) -> McNemarTest:
    """Exact two-sided McNemar test of binary ``base`` and ``new`` scores of the same samples:
    a binomial test (p = 0.5) on the discordant pairs; p-value 1 when there are none."""
    from scipy.stats import binomtest

    base_scores, new_scores = _pair(base, new)
    for name, scores in (("base", base_scores), ("new", new_scores)):
        if not is_binary(scores):
            raise ValueError(
                f"{name} scores are not all 0 or 1: the McNemar test needs right/wrong scores"
            )
    base_only = int(np.count_nonzero((base_scores == 1) & (new_scores == 0)))
    new_only = int(np.count_nonzero((base_scores == 0) & (new_scores == 1)))
    discordant = base_only + new_only
    p_value = 1.0 if discordant == 0 else float(binomtest(base_only, discordant, 0.5).pvalue)
    return McNemarTest(base_only=base_only, new_only=new_only, p_value=p_value)


@dataclass(frozen=True, slots=True)
class PairedTest:
    """The tests ``compare`` runs on two sets of scores of the same samples: the paired
    bootstrap, and the exact McNemar test where every score is right or wrong."""

    bootstrap: PairedComparison
    mcnemar: McNemarTest | None

    @property
    def p_value(self) -> float:
        """McNemar's for right/wrong scores, else the paired bootstrap's."""
        return self.bootstrap.p_value if self.mcnemar is None else self.mcnemar.p_value

    @property
    def name(self) -> str:
        return "paired bootstrap" if self.mcnemar is None else "exact McNemar"


def paired_test(
    base: ArrayLike,
    new: ArrayLike,
    *,
    scale: float = 1.0,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """``paired_bootstrap`` of ``new`` against ``base``, and ``mcnemar_exact`` where every
    score divided by ``scale`` (the scores' scale: 100 for accuracy in percent) is 0 or 1."""
    bootstrap = paired_bootstrap(base, new, resamples=resamples, confidence=confidence, seed=seed)
    rights = [np.asarray(scores, dtype=float) / scale for scores in (base, new)]
    binary = all(is_binary(scores) for scores in rights)
    return PairedTest(bootstrap, mcnemar_exact(*rights) if binary else None)


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values``, in their order: the ``i``-th smallest
    becomes ``max over j <= i of min(1, (m - j) * p_(j))`` (``m`` tests, ``j`` from 0); one
    rejects where the adjusted p-value is below the level, controlling the family-wise error."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def pairwise_wins(scores: ArrayLike) -> NDArray[np.float64]:
    """Win matrix of one task's per-sample scores.

    ``scores`` is a (samples, models) array, NaN where a model has no score for a sample.
    ``W[i, j]`` is the number of samples where model ``i`` scored higher than model ``j``, plus
    half the ties; samples where either score is NaN don't count for that pair.
    """
    array = _score_matrix(scores, "scores")
    models = array.shape[1]
    wins = np.empty((models, models))
    for i in range(models):
        column = array[:, i : i + 1]
        # Comparisons with NaN are false both ways, so missing scores drop out by themselves.
        wins[i] = np.count_nonzero(column > array, axis=0) + 0.5 * np.count_nonzero(
            column == array, axis=0
        )
    np.fill_diagonal(wins, 0.0)
    return wins


def fit_bradley_terry(wins: ArrayLike, *, prior: float = 1.0) -> NDArray[np.float64]:
    """Maximum-likelihood Bradley-Terry ratings on the Elo scale (mean 1000).

    ``wins[i, j]`` is how often model ``i`` beat model ``j`` (fractional counts allowed; the
    diagonal is ignored). ``prior`` adds that many virtual ties (half a win each way) between
    every pair of models, so that a model that never wins still gets a finite rating; with
    ``prior=0`` (the plain MLE) the models must form a strongly connected comparison graph.
    """
    matrix = np.array(wins, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"wins must be a square (models, models) matrix, not {matrix.shape}")
    _check_models(matrix.shape[0])
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError("wins must be finite, non-negative counts")
    _check_prior(prior)
    np.fill_diagonal(matrix, 0.0)
    if prior == 0:
        _check_mle_exists(matrix, "")
    return _fit_ratings(matrix[None], prior)[0]


def rate_models(
    task_scores: Sequence[ArrayLike],
    *,
    task_weights: Sequence[float] | None = None,
    prior: float = 1.0,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[Rating]:
    """Bradley-Terry ratings of models from their per-sample scores on several tasks.

    ``task_scores`` holds one (samples, models) array per task, with the same model columns in
    every array and NaN where a model lacks a sample (or the whole task). Each sample is a
    "battle" between every two models that have a score for it; the win matrix is the sum over
    tasks of ``task_weight * pairwise_wins(task)`` (weights default to 1: every sample counts
    once). Intervals come from a bootstrap that resamples the samples of each task separately
    and refits; a model's rank is 1 + the number of models whose interval lies wholly above its
    own, so models with overlapping intervals can share a rank.
    """
    _check_bootstrap(resamples, confidence)
    _check_prior(prior)
    if len(task_scores) == 0:
        raise ValueError("no tasks: rate_models needs at least one (samples, models) array")
    arrays = [_score_matrix(scores, f"task {t} scores") for t, scores in enumerate(task_scores)]
    models = arrays[0].shape[1]
    for t, array in enumerate(arrays):
        if array.shape[1] != models:
            raise ValueError(
                f"task 0 has {models} model columns but task {t} has {array.shape[1]}: every "
                "task must have the same model columns"
            )
    weights = _task_weights(task_weights, len(arrays))

    rng = np.random.default_rng(seed)
    observed = np.zeros((models, models))
    resampled = np.zeros((resamples, models * models))
    for array, weight in zip(arrays, weights, strict=True):
        if weight == 0:
            continue  # no effect, and no random draws: results equal those without the task
        observed += weight * pairwise_wins(array)
        patterns, counts = np.unique(_rank_patterns(array), axis=0, return_counts=True)
        blocks = _resampled_counts(
            rng, counts, resamples, max_width=max(1, _BLOCK_ELEMENTS // models**2)
        )
        for rows, cols, block in blocks:
            resampled[rows] += weight * (block @ _pattern_wins(patterns[cols]))

    if prior == 0:
        _check_mle_exists(observed, "")
    ratings = _fit_ratings(observed[None], prior)[0]
    resampled = resampled.reshape(resamples, models, models)
    if prior == 0:
        for r, matrix in enumerate(resampled):
            _check_mle_exists(matrix, f" for bootstrap resample {r} (prior=0 needs it for each)")
    # Fit the resamples in batches: the fit holds several (batch, models, models) arrays.
    batch = max(1, _BLOCK_ELEMENTS // (8 * models**2))
    refits = np.concatenate(
        [_fit_ratings(resampled[r : r + batch], prior) for r in range(0, resamples, batch)]
    )
    bounds = _percentiles(refits, confidence)
    ranks = 1 + np.count_nonzero(bounds[0][None, :] > bounds[1][:, None], axis=1)
    return [
        Rating(
            rating=float(ratings[m]),
            interval=Interval(float(bounds[0][m]), float(bounds[1][m])),
            rank=int(ranks[m]),
        )
        for m in range(models)
    ]


# --- validation ---------------------------------------------------------------------------------


def _check_bootstrap(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer):
        raise ValueError(f"resamples must be an integer, not {resamples!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), not {confidence}")


def _check_prior(prior: float) -> None:
    if not (math.isfinite(prior) and prior >= 0):
        raise ValueError(f"prior must be a finite number >= 0, not {prior}")


def _check_models(models: int) -> None:
    if models < 2:
        raise ValueError(f"{models} model(s): ratings need at least 2 models to compare")


def _float_array(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers: {error}") from error


def _scores(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """``values`` as a non-empty 1-D array of finite floats."""
    array = _float_array(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to estimate")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} has {bad} NaN or infinite score(s): scores must be finite")
    return array


def _pair(base: ArrayLike, new: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    base_scores = _scores(base, "base")
    new_scores = _scores(new, "new")
    if len(base_scores) != len(new_scores):
        raise ValueError(
            f"base and new have {len(base_scores)} and {len(new_scores)} scores: "
            "they must be paired (the same samples in the same order)"
        )
    return base_scores, new_scores


def _score_matrix(scores: ArrayLike, name: str) -> NDArray[np.float64]:
    """``scores`` as a non-empty (samples, models) float array with at least 2 models."""
    array = _float_array(scores, name)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (samples, models) array, not of shape {array.shape}")
    _check_models(array.shape[1])
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    return array


def _task_weights(task_weights: Sequence[float] | None, tasks: int) -> list[float]:
    if task_weights is None:
        return [1.0] * tasks
    weights = [float(w) for w in task_weights]
    if len(weights) != tasks:
        raise ValueError(f"{len(weights)} task weights for {tasks} tasks: give one per task")
    if not all(math.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"task weights must be finite and >= 0, not {weights}")
    return weights


def _check_mle_exists(wins: NDArray[np.float64], where: str) -> None:
    """Raise unless the graph with an edge i -> j where i ever beat (or tied) j is strongly
    connected: the condition (Zermelo, Ford) for the plain MLE to exist."""
    from scipy.sparse.csgraph import connected_components

    groups, labels = connected_components(wins > 0, directed=True, connection="strong")
    if groups > 1:
        members = "; ".join(str(np.flatnonzero(labels == g).tolist()) for g in np.unique(labels))
        raise ValueError(
            f"the plain maximum-likelihood ratings do not exist{where}: the comparison graph "
            f"is not strongly connected (models by group: {members}): some group of models "
            "never loses to (nor ties) the others; use prior > 0"
        )


# --- bootstrap ----------------------------------------------------------------------------------


def _resampled_counts(
    rng: np.random.Generator,
    counts: NDArray[np.int64],
    resamples: int,
    *,
    max_width: int | None = None,
) -> Iterator[tuple[slice, slice, NDArray[np.int64]]]:
    """Multinomial resampling of categories, in bounded blocks.

    Each resample draws ``counts.sum()`` items with replacement from categories weighted by
    ``counts``. Yields ``(rows, cols, block)``: ``block[r, k]`` is how often category
    ``cols[k]`` was drawn in resample ``rows[r]``. Blocks of categories are drawn by splitting
    a resample's total over groups of categories first (a multinomial), then within each group.
    Blocks are at most ``max_width`` categories wide.
    """
    total = int(counts.sum())
    categories = len(counts)
    width = min(categories, max(_MIN_BLOCK_WIDTH, _BLOCK_ELEMENTS // resamples))
    if max_width is not None:
        width = min(width, max_width)
    height = max(1, _BLOCK_ELEMENTS // width)
    starts = np.arange(0, categories, width)
    group_totals = np.add.reduceat(counts, starts)
    for first in range(0, resamples, height):
        rows = slice(first, min(first + height, resamples))
        size = rows.stop - rows.start
        if len(starts) == 1:
            yield rows, slice(0, categories), rng.multinomial(total, counts / total, size=size)
            continue
        per_group = rng.multinomial(total, group_totals / total, size=size)
        for g, start in enumerate(starts):
            cols = slice(int(start), int(min(start + width, categories)))
            yield rows, cols, rng.multinomial(per_group[:, g], counts[cols] / group_totals[g])


def _resampled_means(
    values: NDArray[np.float64], resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Means of ``resamples`` bootstrap resamples of ``values``."""
    distinct, counts = np.unique(values, return_counts=True)
    total = len(values)
    means = np.zeros(resamples)
    if total >= _MIN_BLOCK_WIDTH and 4 * len(distinct) > total:
        # Many, mostly distinct values (continuous scores): drawing indices is several times
        # cheaper than a multinomial over the values.
        height = max(1, _BLOCK_ELEMENTS // total)
        for first in range(0, resamples, height):
            size = min(height, resamples - first)
            means[first : first + size] = values[rng.integers(0, total, (size, total))].mean(1)
        return means
    for rows, cols, block in _resampled_counts(rng, counts, resamples):
        # Frequencies times values (not counts times values / total), so that a resample of
        # one repeated value has exactly that value as its mean.
        means[rows] += (block / total) @ distinct[cols]
    return means


def _percentiles(samples: NDArray[np.float64], confidence: float) -> NDArray[np.float64]:
    tail = (1 - confidence) / 2
    return np.quantile(samples, [tail, 1 - tail], axis=0)


def _percentile_interval(samples: NDArray[np.float64], confidence: float) -> Interval:
    low, high = _percentiles(samples, confidence)
    return Interval(float(low), float(high))


# --- Bradley-Terry ------------------------------------------------------------------------------


def _rank_patterns(scores: NDArray[np.float64]) -> NDArray[np.integer]:
    """Per row, each score's count of strictly lower scores in the row (-1 for NaN).

    Two rows with the same pattern give the same pairwise outcomes, and continuous scores
    collapse to far fewer patterns than distinct rows.
    """
    models = scores.shape[1]
    below = np.zeros(scores.shape, dtype=np.int16 if models < 2**15 else np.int32)
    for j in range(models):
        below += scores[:, j : j + 1] < scores
    below[np.isnan(scores)] = -1
    return below


def _pattern_wins(patterns: NDArray[np.integer]) -> NDArray[np.float64]:
    """(patterns, models * models): the flattened win matrix of one sample of each pattern."""
    left = patterns[:, :, None]
    right = patterns[:, None, :]
    present = (left >= 0) & (right >= 0)
    wins = present * ((left > right) + 0.5 * (left == right))
    wins[:, np.arange(patterns.shape[1]), np.arange(patterns.shape[1])] = 0.0
    return wins.reshape(len(patterns), -1)


def _log_likelihood(wins: NDArray[np.float64], theta: NDArray[np.float64]) -> NDArray[np.float64]:
    from scipy.special import log_expit

    return np.einsum("rij,rij->r", wins, log_expit(theta[:, :, None] - theta[:, None, :]))


def _fit_ratings(wins: NDArray[np.float64], prior: float) -> NDArray[np.float64]:
    """Bradley-Terry ratings (Elo scale, mean 1000) of a batch of (models, models) win matrices
    whose MLE exists: Newton's method on the log-strengths, with step halving."""
    from scipy.special import expit

    batch, models, _ = wins.shape
    off_diagonal = 1.0 - np.eye(models)
    wins = (wins + prior / 2) * off_diagonal
    games = wins + wins.transpose(0, 2, 1)
    theta = np.zeros((batch, models))
    likelihood = _log_likelihood(wins, theta)
    # The log-likelihood is shift-invariant; adding a multiple of the all-ones matrix to the
    # (Laplacian) negative Hessian makes it invertible and the steps mean-zero.
    shift = np.ones((models, models))
    tolerance = _FIT_TOLERANCE / ELO_SCALE
    previous = math.inf
    for _ in range(_FIT_MAX_ITERATIONS):
        p = expit(theta[:, :, None] - theta[:, None, :])  # p[r, i, j]: i beats j
        q = p.transpose(0, 2, 1)
        # Won minus expected wins, summed pair by pair as W_ij (1 - p_ij) - W_ji p_ij: with
        # lopsided counts the two totals are huge and nearly equal, and their difference would
        # lose all precision.
        gradient = np.einsum("rij,rij->ri", wins, q) - np.einsum("rji,rij->ri", wins, p)
        curvature = games * p * q
        laplacian = -curvature
        diagonal = curvature.sum(axis=2)
        laplacian[:, np.arange(models), np.arange(models)] = diagonal
        scale = np.maximum(diagonal.mean(axis=1), 1e-300)[:, None, None] / models
        step = np.linalg.solve(laplacian + scale * shift, gradient[:, :, None])[:, :, 0]

        fraction = np.ones(batch)
        for _ in range(60):
            candidate = theta + fraction[:, None] * step
            new_likelihood = _log_likelihood(wins, candidate)
            # Allow for rounding: near the optimum the likelihood is flat to machine precision.
            worse = new_likelihood < likelihood - 1e-12 * (1 + np.abs(likelihood))
            if not worse.any():
                break
            fraction[worse] /= 2
        theta = candidate - candidate.mean(axis=1, keepdims=True)
        likelihood = new_likelihood

        largest = float(np.max(np.abs(fraction[:, None] * step)))
        # Stop at the tolerance, or at the rounding floor once the steps stop shrinking.
        if largest <= tolerance or (largest <= 1e3 * tolerance and largest >= previous):
            break
        previous = largest
    else:
        raise RuntimeError("Bradley-Terry fit did not converge")
    return 1000.0 + ELO_SCALE * theta
