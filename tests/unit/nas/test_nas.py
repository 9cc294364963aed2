from __future__ import annotations

import subprocess
import sys

import optuna
import pytest

from optuna_sotl.nas import arch_string
from optuna_sotl.nas import DEFAULT_OPS
from optuna_sotl.nas import edge_param_name
from optuna_sotl.nas import EDGES
from optuna_sotl.nas import parse_arch_string
from optuna_sotl.nas import suggest_cell


try:
    import torch
except ImportError:  # the model tests need the torch extra; the search-space tests do not
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs the torch extra")


# NAS-Bench-201's own spelling of its best-known CIFAR-10 cell.
NB201_STRING = (
    "|nor_conv_3x3~0|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
NB201_OPS = (
    "nor_conv_3x3",
    "nor_conv_3x3",
    "nor_conv_3x3",
    "skip_connect",
    "nor_conv_3x3",
    "nor_conv_3x3",
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_edges_follow_the_nb201_string_order() -> None:
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert [edge_param_name(edge) for edge in EDGES] == [
        "edge_1<-0",
        "edge_2<-0",
        "edge_2<-1",
        "edge_3<-0",
        "edge_3<-1",
        "edge_3<-2",
    ]


def test_parse_reads_an_nb201_string() -> None:
    assert parse_arch_string(NB201_STRING) == NB201_OPS
    assert arch_string(NB201_OPS) == NB201_STRING


def test_arch_string_round_trips_for_varied_cells() -> None:
    # Every op on every edge at least once, by cycling the ops with different offsets.
    for offset in range(len(DEFAULT_OPS)):
        ops = tuple(DEFAULT_OPS[(offset + i) % len(DEFAULT_OPS)] for i in range(len(EDGES)))
        assert parse_arch_string(arch_string(ops)) == ops


@pytest.mark.parametrize(
    "arch, fragment",
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "3 node groups"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv_5x5'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "'none~1'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "'|none~0|' of node 2"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "'none~0' of node 1"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "'none'"),
        ("|~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation ''"),
        ("", "3 node groups"),
    ],
)
def test_parse_rejects_malformed_strings_naming_the_bad_part(arch: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="arch") as info:
        parse_arch_string(arch)
    assert fragment in str(info.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="arch must be an arch string"):
        parse_arch_string(list(NB201_OPS))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "ops, error, fragment",
    [
        (NB201_OPS[:5], ValueError, "must hold 6 operations"),
        ((*NB201_OPS[:5], "max_pool_3x3"), ValueError, "'max_pool_3x3'"),
        ("nor_conv_3x3", TypeError, "ops_per_edge must be a sequence"),
        ((*NB201_OPS[:5], None), ValueError, "None"),
    ],
)
def test_arch_string_rejects_bad_ops(ops: object, error: type, fragment: str) -> None:
    with pytest.raises(error, match="ops_per_edge") as info:
        arch_string(ops)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_suggest_cell_uses_one_categorical_param_per_edge() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    arches = []
    for _ in range(10):
        trial = study.ask()
        arch = suggest_cell(trial)
        arches.append(arch)
        ops = parse_arch_string(arch)
        assert trial.params == {edge_param_name(e): op for e, op in zip(EDGES, ops)}
        study.tell(trial, 0.0)
    assert len(set(arches)) > 1
    distribution = study.trials[0].distributions["edge_3<-2"]
    assert isinstance(distribution, optuna.distributions.CategoricalDistribution)
    assert distribution.choices == DEFAULT_OPS


def test_suggest_cell_with_own_ops_and_prefix() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    first = suggest_cell(trial, ops=("skip_connect", "nor_conv_1x1"), prefix="normal")
    second = suggest_cell(trial, ops=("none",), prefix="other")
    assert set(parse_arch_string(first)) <= {"skip_connect", "nor_conv_1x1"}
    assert second == ALL_NONE
    assert sorted(trial.params) == sorted(
        [edge_param_name(e, prefix) for prefix in ("normal", "other") for e in EDGES]
    )


def test_suggest_cell_is_reproduced_by_a_fixed_trial() -> None:
    params = {edge_param_name(e): op for e, op in zip(EDGES, NB201_OPS)}
    assert suggest_cell(optuna.trial.FixedTrial(params)) == NB201_STRING


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"ops": ()}, ValueError, "ops must name at least one"),
        ({"ops": ("none", "none")}, ValueError, "must not repeat"),
        ({"ops": ("none", "sep_conv_3x3")}, ValueError, "'sep_conv_3x3'"),
        ({"ops": "none"}, TypeError, "ops must be a sequence"),
        ({"prefix": ""}, ValueError, "prefix"),
    ],
)
def test_suggest_cell_rejects_bad_arguments(kwargs: dict, error: type, fragment: str) -> None:
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(error) as info:
        suggest_cell(trial, **kwargs)
    assert fragment in str(info.value)
    assert trial.params == {}


def test_importing_nas_does_not_import_torch() -> None:
    code = (
        "import sys, optuna_sotl.nas as nas; "
        "assert 'torch' not in sys.modules; "
        "nas.build_nb201_model; "
        "assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- The torch model -----------------------------------------------------------------------


def _model(arch: object, **kwargs: object) -> object:
    from optuna_sotl.nas import build_nb201_model

    options = {"in_channels": 1, "num_classes": 10, "channels": 4, "cells_per_stage": 1}
    options.update(kwargs)
    return build_nb201_model(arch, **options)


@needs_torch
@pytest.mark.parametrize(
    "arch",
    [
        NB201_STRING,
        ALL_NONE,
        arch_string(["skip_connect"] * 6),
        "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|avg_pool_3x3~2|",
    ],
)
def test_model_gives_finite_logits_and_trains(arch: str) -> None:
    torch.manual_seed(0)
    model = _model(arch)
    images = torch.randn(6, 1, 8, 8)
    labels = torch.arange(6)
    logits = model(images)
    assert logits.shape == (6, 10)
    assert torch.isfinite(logits).all()
    # One optimisation step moves the loss: the network, even the all-"none" one (whose head
    # still learns a bias), is trainable end to end.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.nn.functional.cross_entropy(model(images), labels).item() != loss.item()


@needs_torch
def test_all_none_cell_outputs_zeros_and_other_cells_do_not() -> None:
    from optuna_sotl.nas._torch_model import NB201Cell

    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(NB201Cell(parse_arch_string(ALL_NONE), 3)(x), torch.zeros_like(x))
    # Node 3 <- 0 is the only non-zero edge: with skip_connect it passes the input through.
    skip_only = ("none", "none", "none", "skip_connect", "none", "none")
    assert torch.equal(NB201Cell(skip_only, 3)(x), x)
    # 1 <- 0 skip, 3 <- 1 skip, 3 <- 0 skip: node 3 sums two copies of the input.
    two_paths = ("skip_connect", "none", "none", "skip_connect", "skip_connect", "none")
    assert torch.equal(NB201Cell(two_paths, 3)(x), 2 * x)


@needs_torch
def test_model_macro_skeleton() -> None:
    model = _model(NB201_STRING, in_channels=3, num_classes=7, channels=4, cells_per_stage=2)
    assert model.arch == NB201_STRING
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    cells = [m for m in model.modules() if type(m).__name__ == "NB201Cell"]
    reductions = [m for m in model.modules() if type(m).__name__ == "ResidualReduction"]
    assert len(cells) == 6 and len(reductions) == 2
    # Channels double at each reduction: 4 -> 8 -> 16 feed the linear head.
    assert model.head[-1].in_features == 16
    # "none" edges build no module; nor_conv edges are ReLU-Conv-BN.
    assert sorted(cells[0].edges) == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert sorted(_model(ALL_NONE).features[2].edges) == []
    conv = cells[0].edges["1<-0"]
    assert [type(layer).__name__ for layer in conv] == ["ReLU", "Conv2d", "BatchNorm2d"]


@needs_torch
def test_model_accepts_ops_sequence_and_checks_sizes() -> None:
    assert _model(list(NB201_OPS)).arch == NB201_STRING
    with pytest.raises(ValueError, match="arch has an unknown operation 'conv'"):
        _model((*NB201_OPS[:5], "conv"))
    with pytest.raises(ValueError, match="channels"):
        _model(NB201_STRING, channels=0)
    with pytest.raises(TypeError, match="num_classes"):
        _model(NB201_STRING, num_classes=2.5)


@needs_torch
def test_model_parameter_counts_differ_by_ops() -> None:
    def count(arch: str) -> int:
        return sum(p.numel() for p in _model(arch).parameters())

    conv_cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert count(ALL_NONE) < count(conv_cell) < count(NB201_STRING)
    pool_and_skip = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"
    assert count(pool_and_skip) == count(ALL_NONE)
