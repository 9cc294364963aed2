"""The statistical choice of :class:`~optuna_sotl.SelfCalibratingEstimator`, in plain numpy.

Given the candidate signals of a few calibration trials and what those trials turned out to be,
:func:`choose_signal` says which signal to rank every trial with. The online estimator (scores
read out of storage) and the offline evaluation (scores read out of a learning-curve file) both
call it, so the two always make the same choice on the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from optuna_sotl._checks import check_one_of


SOTL_E = "SoTL-E(E=1)"
VAL_METRIC = "val_metric@T"
RANK_MEAN = "rank-mean(SoTL-E, val_metric)"
SIGNALS = (SOTL_E, RANK_MEAN, VAL_METRIC)

# Below 10 pairs Spearman's ρ has a standard error above 1/sqrt(10 - 1) = 0.33, larger than the
# gaps between the candidate signals it would choose among: the choice would be noise.
DEFAULT_MIN_CALIBRATION_TRIALS = 10
# The validation metric alone replaces SoTL-E only when it beats both SoTL-E and the rank mean in
# 90 % of the bootstrap resamples: it discards the training-loss signal entirely.
VAL_METRIC_CONFIDENCE = 0.9
# Otherwise the metric's weight in a blend of the two rank orders follows the share of resamples
# in which the rank mean beats SoTL-E: none up to 40 % (SoTL-E is the prior and a coin toss is no
# evidence against it), half (the rank mean) from 70 %, linear in between, so that a small change
# in evidence makes a small change in the ranking.
RANK_MEAN_RAMP = (0.4, 0.7)
DEFAULT_BOOTSTRAP = 1000
# The metric's weight before there is evidence, per prior of :func:`choose_signal`. "sotl-e":
# SoTL-E until the evidence clearly favours the metric (the rule above). "metric" and "even": the
# metric or the rank mean until then, after which the metric's weight is the bootstrap probability
# that it ranks better than SoTL-E. "metric-first": the metric until then, and after that too
# while it ranks better in at least half the resamples; SoTL-E gains weight only as the evidence
# turns against the metric. Blending in a signal that ranks worse costs more than it averages
# out: on a held-out tabular set "metric" (weights of 0.56-0.93 at the first rung) lost to the
# metric alone (benchmarks/results/sha-prior.md).
_NO_EVIDENCE_WEIGHTS = {"sotl-e": 0.0, "metric": 1.0, "even": 0.5, "metric-first": 1.0}
_WEIGHS_BY_EVIDENCE = ("even", "metric", "metric-first")
PRIORS = tuple(_NO_EVIDENCE_WEIGHTS)
# Bootstrap resamples times trials: bounds the cost of one choice (a few ms) in large studies.
_MAX_BOOTSTRAP_CELLS = 50_000
_MIN_BOOTSTRAP = 200
# Beyond this many calibration trials a fixed random subset of them is used: ρ's standard error
# there (about 0.02) is far below the gaps the choice is about, and the cost stays near 0.1 s.
_MAX_CALIBRATION = 2000


@dataclasses.dataclass(frozen=True)
class SignalChoice:
    """What :func:`choose_signal` decided and the evidence it had.

    ``metric_weight`` is the weight of the validation metric's ranks against SoTL-E's: 0 is
    SoTL-E itself, 1 the metric itself, ½ the rank mean. ``p_rank_mean`` is the share of
    bootstrap resamples in which the rank mean ranked the calibration trials better than SoTL-E;
    ``p_val_metric`` the share in which the validation metric ranked them better than both (under
    the metric, even and metric-first priors: better than SoTL-E, ties half). Both are NaN when
    no comparison was made (too few trials, no validation metric, a constant target).
    """

    metric_weight: float
    n_calibration: int
    p_rank_mean: float = math.nan
    p_val_metric: float = math.nan

    @property
    def signal(self) -> str:
        """A label: SoTL-E, the rank mean, the metric, or the blend with its weight."""
        if self.metric_weight == 0.0:
            return SOTL_E
        if self.metric_weight == 1.0:
            return VAL_METRIC
        if self.metric_weight == 0.5:
            return RANK_MEAN
        return f"rank blend(metric weight {self.metric_weight:.2f})"

    @property
    def kind(self) -> str:
        """:attr:`signal` with the blends on either side of the rank mean under one name each,
        to count choices."""
        if self.signal in SIGNALS:
            return self.signal
        if self.metric_weight < 0.5:
            return "rank blend (SoTL-E to rank mean)"
        return "rank blend (rank mean to metric)"


def blend_scores(
    sotl_e: np.ndarray, val_metric: np.ndarray | None, metric_weight: float
) -> np.ndarray:
    """Lower-is-better scores of the choice: SoTL-E (weight 0), the metric (1) or a rank blend.

    A blend ranks within the rows given and is NaN wherever either score is NaN.
    """
    sotl_e = np.asarray(sotl_e, dtype=np.float64)
    if metric_weight == 0.0 or val_metric is None:
        return sotl_e
    metric = np.asarray(val_metric, dtype=np.float64)
    if metric_weight == 1.0:
        return metric
    both = ~(np.isnan(sotl_e) | np.isnan(metric))
    blend = np.full(sotl_e.shape, np.nan)
    if both.any():
        blend[both] = blend_ranks(
            average_ranks(sotl_e[both]), average_ranks(metric[both]), metric_weight
        )
    return blend


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 with ties given their mean rank (``scipy.stats.rankdata``'s default).

    Plain numpy, so that a pruner's decision never waits for SciPy's import (about 0.7 s).
    ``values`` holds no NaN; infinities tie with each other.
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.concatenate((starts[1:], [values.size])) - starts
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def blend_ranks(
    sotl_e_ranks: np.ndarray, metric_ranks: np.ndarray, metric_weight: float
) -> np.ndarray:
    """The rank blend of :func:`blend_scores` from the two signals' average ranks (from 1).

    The replay (``optuna_sotl.curves._replay_calibration``) keeps the ranks as trials arrive
    and blends them here, so that its scores are the estimator's bit for bit.
    """
    return (1.0 - metric_weight) * sotl_e_ranks + metric_weight * metric_ranks


def signal_scores(sotl_e: np.ndarray, val_metric: np.ndarray | None) -> dict[str, np.ndarray]:
    """Each candidate's lower-is-better scores from SoTL-E's and the validation metric's.

    ``val_metric`` is lower-is-better too (an accuracy negated); without it only SoTL-E is given.
    """
    scores = {SOTL_E: np.asarray(sotl_e, dtype=np.float64)}
    if val_metric is not None:
        scores[VAL_METRIC] = np.asarray(val_metric, dtype=np.float64)
        scores[RANK_MEAN] = rank_mean(sotl_e, val_metric)
    return scores


def rank_mean(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Mean of the two lower-is-better rank orders; NaN wherever either score is NaN."""
    return blend_scores(first, second, 0.5)


def choose_signal(
    sotl_e: np.ndarray,
    val_metric: np.ndarray | None,
    target: np.ndarray,
    *,
    min_trials: int = DEFAULT_MIN_CALIBRATION_TRIALS,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    prior: str = "sotl-e",
) -> SignalChoice:
    """Which signal ranks trials best, judged on calibration trials with a paired bootstrap.

    All arrays hold the calibration trials in one order and are lower-is-better: ``sotl_e`` and
    ``val_metric`` at the step being scored, ``target`` what the trials turned out to be (their
    objective, or the validation metric at a later step). The trials are resampled ``n_bootstrap``
    times (fewer for large sets) with a fixed ``seed``, so every worker makes the same choice, and
    on each resample the Spearman ρ of SoTL-E, of the rank mean of the two and of the metric with
    the target is computed.

    With ``prior="even"`` or ``"metric"`` neither signal is preferred once there is evidence:
    the metric's weight in the blend of the two rank orders is the share of resamples in which
    the metric ranks the trials better than SoTL-E (ties count half). While there is none (fewer
    than ``min_trials`` trials, a constant target) the weight is ½ (the rank mean) or 1 (the
    metric). With ``prior="metric-first"`` the weight is twice that share, at most 1: the metric
    alone while it ranks better in at least half the resamples, SoTL-E alone when it ranks better
    in all. With ``prior="sotl-e"`` SoTL-E is the prior: the metric alone is chosen when it
    beats both others in at least 90 % of the resamples; otherwise the metric's weight grows with
    the share ``p`` of resamples in which the rank mean beats SoTL-E: 0 (SoTL-E) for
    ``p <= 0.4``, ½ for ``p >= 0.7``, linear between; without evidence it is 0. Without a
    validation metric (or with gaps in it) the weight is 0.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.estimators._signal_choice import choose_signal

            target = np.arange(30.0)
            noise = np.random.default_rng(0).normal(size=30)
            choice = choose_signal(noise, target + 100.0, target)  # the metric is the target
            assert choice.signal == "val_metric@T"
    """
    sotl_e = np.asarray(sotl_e, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    n = int(target.size)
    if sotl_e.shape != target.shape or (val_metric is not None and np.shape(val_metric) != (n,)):
        raise ValueError(
            f"sotl_e, val_metric and target must have one shape (n,), got {sotl_e.shape}, "
            f"{None if val_metric is None else np.shape(val_metric)} and {target.shape}."
        )
    if isinstance(min_trials, bool) or not isinstance(min_trials, numbers.Integral):
        raise TypeError(f"min_trials must be an int, got {min_trials!r}.")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral):
        raise TypeError(f"n_bootstrap must be an int, got {n_bootstrap!r}.")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be at least 1, got {n_bootstrap}.")
    no_evidence = prior_weight(prior)
    if val_metric is None:
        return SignalChoice(0.0, n)
    weighs_by_evidence = prior in _WEIGHS_BY_EVIDENCE
    if weighs_by_evidence:  # compares the two signals only: no rank mean to rank
        matrix = np.stack([np.asarray(sotl_e, np.float64), np.asarray(val_metric, np.float64)])
    else:
        scores = signal_scores(sotl_e, val_metric)
        matrix = np.stack([scores[name] for name in SIGNALS])
    # inf (a diverged trial) ranks worst, which rankdata handles; NaN cannot be ranked.
    if np.isnan(matrix).any():
        return SignalChoice(0.0, n)
    if n < max(3, min_trials) or not np.isfinite(target).all() or np.ptp(target) == 0.0:
        return SignalChoice(no_evidence, n)

    rng = np.random.default_rng(seed)
    if n > _MAX_CALIBRATION:
        keep = np.sort(rng.choice(n, size=_MAX_CALIBRATION, replace=False))
        matrix, target = matrix[:, keep], target[keep]
    size = target.size
    resamples = max(_MIN_BOOTSTRAP, min(int(n_bootstrap), _MAX_BOOTSTRAP_CELLS // size))
    resamples = min(resamples, int(n_bootstrap))
    index = rng.integers(0, size, size=(resamples, size))
    rho, valid = _bootstrap_spearman(matrix, target, index)  # (signals, resamples)
    if not valid.any():
        return SignalChoice(no_evidence, n)
    # A constant signal orders nothing: ρ = 0.
    if weighs_by_evidence:
        sotl, metric = np.nan_to_num(rho[:, valid], nan=0.0)
        p_metric = float(np.mean(metric > sotl) + 0.5 * np.mean(metric == sotl))
        weight = min(1.0, 2.0 * p_metric) if prior == "metric-first" else p_metric
        return SignalChoice(weight, n, p_val_metric=p_metric)
    sotl, mean, metric = np.nan_to_num(rho[:, valid], nan=0.0)
    p_rank_mean = float(np.mean(mean > sotl) + 0.5 * np.mean(mean == sotl))
    p_val_metric = float(np.mean(metric > np.maximum(sotl, mean)))
    if p_val_metric >= VAL_METRIC_CONFIDENCE:
        weight = 1.0
    else:
        low, high = RANK_MEAN_RAMP
        weight = 0.5 * min(1.0, max(0.0, (p_rank_mean - low) / (high - low)))
    return SignalChoice(weight, n, p_rank_mean, p_val_metric)


def prior_weight(prior: str) -> float:
    """The metric's weight without evidence under ``prior`` (see :func:`choose_signal`)."""
    return _NO_EVIDENCE_WEIGHTS[check_one_of("prior", prior, PRIORS)]


def _bootstrap_spearman(
    scores: np.ndarray, target: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman ρ of each row of ``scores`` ``(k, n)`` with ``target`` on each resample.

    ``index`` ``(B, n)`` lists each resample's trials. A resample is a multiset of the ``n``
    trials, so its average ranks follow from how often each trial was drawn, without sorting
    every resample: the same ρ as ranking the resampled values, at O(B·n) cost. Returns the
    ``(k, B)`` correlations (NaN for a constant signal) and which resamples have a non-constant
    target (only those say anything).
    """
    resamples, n = index.shape
    counts = resample_counts(index)

    def centred_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ranks = resample_ranks(values, counts)
        centred = ranks - ((counts * ranks).sum(axis=1) / n)[:, None]
        return centred, (counts * centred * centred).sum(axis=1)

    target_ranks, target_spread = centred_ranks(target)
    rho = np.empty((scores.shape[0], resamples))
    for row, values in enumerate(scores):
        ranks, spread = centred_ranks(values)
        covariance = (counts * ranks * target_ranks).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho[row] = np.where(spread > 0.0, covariance / np.sqrt(spread * target_spread), np.nan)
    return rho, target_spread > 0.0


def resample_counts(index: np.ndarray) -> np.ndarray:
    """How often each of the ``n`` trials is drawn in each resample of ``index`` ``(B, n)``."""
    resamples, n = index.shape
    flat = (np.arange(resamples)[:, None] * n + index).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def resample_ranks(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each trial's average rank (from 1) within each resample, from ``resample_counts``.

    A trial drawn ``c`` times stands for ``c`` tied copies; an undrawn trial gets the rank it
    would have (its count weighs it out of every sum).
    """
    n = values.size
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.empty(n, dtype=np.intp)
    group[order] = np.cumsum(new_group) - 1
    per_group = np.add.reduceat(counts[:, order], np.flatnonzero(new_group), axis=1)
    below = np.cumsum(per_group, axis=1) - per_group
    return (below + (per_group + 1.0) / 2.0)[:, group]
