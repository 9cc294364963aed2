from __future__ import annotations

import optuna

from optuna_sotl._storage_url import mask_password


def test_every_storage_round_trips_a_trial(make_study, storage_supplier) -> None:
    study = make_study(direction="maximize")
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 2.0, 1: 1.5}))
    if storage_supplier.url is not None:
        # A second connection, as another worker would open, sees the same trial.
        again = optuna.load_study(study_name=study.study_name, storage=storage_supplier.open())
        assert again.trials[0].intermediate_values == {0: 2.0, 1: 1.5}
    assert study.trials[0].value == 1.0


def test_mask_password_hides_only_the_password() -> None:
    assert (
        mask_password("postgresql://alice:pa:ss@db:5432/x")
        == "postgresql://alice:***@db:5432/x"
    )
    assert mask_password("sqlite:///a.db") == "sqlite:///a.db"
    assert mask_password("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
