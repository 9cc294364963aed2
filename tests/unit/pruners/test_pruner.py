from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import SelfCalibratingEstimator
from optuna_sotl import SoTL
from optuna_sotl import SoTLE
from optuna_sotl import SoTLPruner
from optuna_sotl import SoVL
from optuna_sotl.pruners._sparing import is_spared
from optuna_sotl.pruners._sparing import SPARED_ATTR


# Completed trials' per-epoch training losses; at step 2 the median loss is 1.0.
COMPLETED_LOSSES = [
    [2.2, 1.6, 1.3],
    [2.1, 1.4, 1.1],
    [2.0, 1.2, 1.0],
    [1.9, 1.1, 0.9],
    [1.8, 1.0, 0.7],
]

# Compared at step 2 with the trials above: one trial stays above the median loss, one below.
BAD_LOSSES = [2.4, 1.5, 1.2]
GOOD_LOSSES = [1.7, 1.0, 0.8]


def add_trials(study: optuna.Study, curves, state=TrialState.COMPLETE) -> None:
    for losses in curves:
        study.add_trial(
            optuna.create_trial(
                state=state,
                # An accuracy that agrees with the loss, so "maximize" is the natural direction.
                value=1.0 - losses[-1] / 3 if state == TrialState.COMPLETE else None,
                intermediate_values=dict(enumerate(losses)),
            )
        )


def running_trial(study: optuna.Study, losses) -> optuna.Trial:
    trial = study.ask()
    for step, loss in enumerate(losses):
        trial.report(loss, step)
    return trial


# spare_share=0.0 where a test checks the comparison itself: the default spares the first
# trials, whose epochs are all there are. Sparing has its own tests below.
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_prunes_high_loss_and_keeps_low_loss_in_either_direction(make_study, direction) -> None:
    study = make_study(direction=direction, pruner=SoTLPruner(spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)

    for n_epochs in (1, 3):
        assert running_trial(study, BAD_LOSSES[:n_epochs]).should_prune()
        assert not running_trial(study, GOOD_LOSSES[:n_epochs]).should_prune()


def test_median_pruner_prunes_the_low_loss_trial_in_a_maximize_study(make_study) -> None:
    """The pitfall this package exists for: Optuna reads losses as accuracies when maximising."""
    study = make_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    add_trials(study, COMPLETED_LOSSES)

    # At the first epoch MedianPruner reads the losses as accuracies and keeps the larger ones.
    assert running_trial(study, GOOD_LOSSES[:1]).should_prune()
    assert not running_trial(study, BAD_LOSSES[:1]).should_prune()


def test_a_score_equal_to_the_percentile_is_kept(make_study) -> None:
    # SoTL-E: the last losses tie with the median exactly (the default estimator is SoTL since
    # the replayed-search defaults; the tie rule is the same for every estimator).
    study = make_study(pruner=SoTLPruner(estimator=SoTLE(1)))
    add_trials(study, COMPLETED_LOSSES)
    assert not running_trial(study, [2.0, 1.5, 1.0]).should_prune()


def test_nan_or_inf_at_the_step_prunes_at_once_even_in_warm_up(make_study) -> None:
    study = make_study(pruner=SoTLPruner(n_startup_trials=100, n_warmup_steps=100))
    assert running_trial(study, [2.0, math.nan]).should_prune()
    assert running_trial(study, [math.inf]).should_prune()
    assert not running_trial(study, [2.0, 1.0]).should_prune()


def test_compares_with_pruned_and_running_trials_but_not_failed(make_study) -> None:
    study = make_study(pruner=SoTLPruner(n_startup_trials=0, spare_share=0.0))
    # Only the failed trials have low losses; the pruned and running ones are what counts.
    add_trials(study, [[2.0, 0.1, 0.1]] * 5, state=TrialState.FAIL)
    add_trials(study, [[2.0, 1.3], [2.0, 1.1]], state=TrialState.PRUNED)
    running_trial(study, [2.0, 0.9])

    assert not running_trial(study, [2.0, 1.05]).should_prune()
    assert running_trial(study, [2.0, 1.35]).should_prune()


def test_other_trials_non_finite_scores_rank_worst(make_study) -> None:
    study = make_study(pruner=SoTLPruner(n_startup_trials=0))
    add_trials(study, [[2.0, math.inf], [2.0, math.nan], [2.0, 1.0]], state=TrialState.PRUNED)
    # The median of (1.0, worst, worst) is the worst: anything finite is kept.
    assert not running_trial(study, [2.0, 50.0]).should_prune()


def test_startup_warm_up_interval_and_min_trials(make_study) -> None:
    study = make_study(pruner=SoTLPruner(n_startup_trials=6, spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    assert not running_trial(study, [2.0, 1.5, 1.2]).should_prune()  # 5 of 6 start-up trials

    study = make_study(pruner=SoTLPruner(n_warmup_steps=3, spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    assert not running_trial(study, [2.0, 1.5, 1.2]).should_prune()  # step 2 < 3

    study = make_study(pruner=SoTLPruner(n_min_trials=6, spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    assert not running_trial(study, [2.0, 1.5, 1.2]).should_prune()  # 5 others reached step 2

    study = make_study(pruner=SoTLPruner(n_warmup_steps=1, interval_steps=2, spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    trial = study.ask()
    checks = []
    for step, loss in enumerate([3.0, 3.0, 3.0]):
        trial.report(loss, step)
        checks.append(trial.should_prune())
    assert checks == [False, True, False]  # checked at steps 1 and 3, 5, ... only


def test_a_check_skipped_by_a_gap_happens_at_the_next_reported_step(make_study) -> None:
    # SoTL-E: the trials report step 1 only (SoTL would sum over the gap).
    study = make_study(
        pruner=SoTLPruner(
            n_warmup_steps=0, interval_steps=2, estimator=SoTLE(1), spare_share=0.0
        )
    )
    add_trials(study, COMPLETED_LOSSES)
    trial = study.ask()
    trial.report(1.0, 1)
    assert not trial.should_prune()  # step 1 is between the checks at 0 and 2... but 0 was missed
    trial = study.ask()
    trial.report(3.0, 1)
    assert trial.should_prune()


def test_the_estimator_decides_what_is_compared(make_study) -> None:
    # Low last-epoch loss but a high sum: SoTL-E keeps it, SoTL prunes it.
    losses = [4.0, 2.0, 0.8]
    study = make_study(pruner=SoTLPruner(estimator=SoTLE(1), spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    assert not running_trial(study, losses).should_prune()

    study = make_study(pruner=SoTLPruner(estimator=SoTL(), spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    assert running_trial(study, losses).should_prune()


def test_the_default_reads_sotl_and_the_best_metric_so_far() -> None:
    # The default the evidence chose (benchmarks/results/best-so-far-builds.md); the estimator's
    # tests show what each reading decides.
    estimator = SoTLPruner().estimator
    assert isinstance(estimator, SelfCalibratingEstimator)
    assert isinstance(estimator.loss_estimator, SoTL)
    assert estimator.metric_value == "best-so-far"
    assert "metric_value='best-so-far'" in repr(SoTLPruner())


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"percentile": 101.0}, ValueError, "percentile.*101"),
        ({"percentile": -1}, ValueError, "percentile.*-1"),
        ({"percentile": "50"}, TypeError, "percentile"),
        ({"n_startup_trials": -1}, ValueError, "n_startup_trials=-1"),
        ({"n_warmup_steps": -3}, ValueError, "n_warmup_steps=-3"),
        ({"interval_steps": 0}, ValueError, "interval_steps=0"),
        ({"n_min_trials": 0}, ValueError, "n_min_trials=0"),
        ({"n_startup_trials": 2.5}, TypeError, "n_startup_trials"),
        ({"estimator": "sotl"}, TypeError, "estimator"),
        ({"estimator": SoVL()}, ValueError, "estimator"),
        ({"spare_every": -1}, ValueError, "spare_every=-1"),
        ({"spare_every": 0.5}, TypeError, "spare_every"),
        ({"spare_share": 1.0}, ValueError, "spare_share=1.0"),
        ({"spare_share": -0.1}, ValueError, "spare_share=-0.1"),
        ({"spare_share": "0.2"}, TypeError, "spare_share"),
        ({"spare_every": 5}, ValueError, "spare_every=5 and spare_share=0.2"),
        ({"spare_every": 5, "spare_share": 0.3}, ValueError, "pass spare_share=0 with"),
    ],
)
def test_invalid_arguments(kwargs, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        SoTLPruner(**kwargs)


def test_spared_trials_are_kept_unless_their_loss_is_not_finite(make_study) -> None:
    study = make_study(direction="maximize", pruner=SoTLPruner(spare_every=3, spare_share=0.0))
    add_trials(study, COMPLETED_LOSSES)
    spared: list[bool] = []
    # Until both kinds were seen (the study's name is random; 40 trials miss one kind with
    # probability below 1e-7).
    while len(set(spared)) < 2 and len(spared) < 40:
        trial = running_trial(study, BAD_LOSSES)
        spared.append(is_spared(study.study_name, trial.number, 3))
        assert trial.should_prune() is not spared[-1]
        trial.report(math.inf, len(BAD_LOSSES))
        assert trial.should_prune()
        study.tell(trial, state=TrialState.FAIL)  # failed trials are never compared
    assert set(spared) == {True, False}


def test_spared_trials_depend_on_the_study_and_number_only() -> None:
    drawn = [is_spared("study-a", number, 10) for number in range(2000)]
    assert 150 <= sum(drawn) <= 250
    assert drawn != [is_spared("study-b", number, 10) for number in range(2000)]
    assert not any(is_spared("study-a", number, 0) for number in range(100))
    assert all(is_spared("study-a", number, 1) for number in range(100))
    assert "spare_every=50" in repr(SoTLPruner(spare_every=50, spare_share=0.0))
    assert SoTLPruner(spare_every=50, spare_share=0.0).spare_every == 50
    assert SoTLPruner().spare_share == 0.2


def test_spare_share_spares_while_spared_epochs_are_below_the_share(make_study) -> None:
    # Five complete trials of three epochs (15 epochs, none spared), then trials whose first
    # loss is pruned unless spared; spared ones train their three epochs. With a share of 0.25
    # a trial is spared while spared epochs < 0.25 * (epochs so far + its first):
    # 0 < 4, 3 < 4.75, not 6 < 5.5, not 6 < 5.75, not 6 < 6, 6 < 6.25.
    study = make_study(direction="maximize", pruner=SoTLPruner(spare_share=0.25))
    add_trials(study, COMPLETED_LOSSES)
    spared = []
    for _ in range(6):
        trial = running_trial(study, BAD_LOSSES[:1])
        spared.append(not trial.should_prune())
        if spared[-1]:
            for step, loss in enumerate(BAD_LOSSES[1:], start=1):
                trial.report(loss, step)
                assert not trial.should_prune()
        study.tell(trial, 0.5 if spared[-1] else None,
                   state=TrialState.COMPLETE if spared[-1] else TrialState.PRUNED)
    assert spared == [True, True, False, False, False, True]
    # Stored once, at the first decision, for every trial that asked.
    marks = [t.system_attrs.get(SPARED_ATTR) for t in study.get_trials()]
    assert marks == [None] * 5 + spared
    assert "spare_share=0.25" in repr(study.pruner)
    assert study.pruner.spare_share == 0.25


def test_spare_share_still_prunes_a_non_finite_loss(make_study) -> None:
    study = make_study(pruner=SoTLPruner(spare_share=0.5))
    add_trials(study, COMPLETED_LOSSES)
    trial = running_trial(study, [math.nan])
    assert trial.should_prune()
    assert study.get_trials()[-1].system_attrs[SPARED_ATTR] is True


class CountingStorage(optuna.storages.InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[bool] = []

    def get_all_trials(self, study_id, deepcopy=True, states=None):  # type: ignore[override]
        self.reads.append(deepcopy)
        return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)


@pytest.mark.parametrize("spare_share", [0.0, 0.01])
def test_reads_the_other_trials_once_without_copying(spare_share) -> None:
    # With spare_share the first decision also counts the study's epochs: on the same read.
    storage = CountingStorage()
    study = optuna.create_study(storage=storage, pruner=SoTLPruner(spare_share=spare_share))
    add_trials(study, COMPLETED_LOSSES)
    trial = running_trial(study, [2.0, 1.5, 1.2])
    frozen = storage.get_trial(trial._trial_id)
    storage.reads.clear()
    # With the share, no spared epochs yet is below 0.01 * 18: spared, so not pruned.
    assert study.pruner.prune(study, frozen) is (spare_share == 0.0)
    assert storage.reads == [False]
