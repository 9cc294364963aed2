"""The NAS-Bench-201 cell search space: edges, operations, arch strings and Optuna suggestions.

A cell has 4 nodes; node 0 is the cell's input, node 3 its output, and each node ``j`` sums the
operations on its edges from every earlier node ``i``. The 6 edges are kept in NAS-Bench-201's
order, the order of its arch strings ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, where ``op~i`` on
the ``j``-th group is the operation on the edge ``j <- i``.

This module is pure Python: it does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna


#: The five operations of NAS-Bench-201, the default search space of :func:`suggest_cell`.
DEFAULT_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)

#: The operations :func:`~optuna_sotl.nas.build_nb201_model` can build.
SUPPORTED_OPS: frozenset[str] = frozenset(DEFAULT_OPS)

#: The cell's edges as ``(to_node, from_node)`` pairs, in NAS-Bench-201's arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

N_NODES = 4


def edge_param_name(edge: tuple[int, int], prefix: str = "edge") -> str:
    """The Optuna parameter name of an edge: ``"{prefix}_{to}<-{from}"``, e.g. ``"edge_2<-1"``."""
    to_node, from_node = edge
    return f"{prefix}_{to_node}<-{from_node}"


def check_ops(ops: Sequence[str], name: str = "ops") -> tuple[str, ...]:
    """Validate a set of candidate operations: a non-empty sequence of distinct supported names."""
    if isinstance(ops, str) or not isinstance(ops, Sequence):
        raise TypeError(f"{name} must be a sequence of operation names, got {ops!r}.")
    ops = tuple(ops)
    if not ops:
        raise ValueError(f"{name} must name at least one operation, got {ops!r}.")
    for op in ops:
        _check_op(op, name)
    if len(set(ops)) != len(ops):
        raise ValueError(f"{name} must not repeat an operation, got {ops!r}.")
    return ops


def check_edge_ops(ops_per_edge: object, name: str = "ops_per_edge") -> tuple[str, ...]:
    """Validate one supported operation per edge, in :data:`EDGES` order."""
    if isinstance(ops_per_edge, str) or not isinstance(ops_per_edge, Sequence):
        raise TypeError(
            f"{name} must be a sequence of {len(EDGES)} operation names, got {ops_per_edge!r}."
        )
    if len(ops_per_edge) != len(EDGES):
        raise ValueError(
            f"{name} must hold {len(EDGES)} operations, one per edge, "
            f"got {len(ops_per_edge)}: {list(ops_per_edge)!r}."
        )
    for op in ops_per_edge:
        _check_op(op, name)
    return tuple(ops_per_edge)


def arch_string(ops_per_edge: Sequence[str]) -> str:
    """The NAS-Bench-201 arch string of the cell with these operations, in :data:`EDGES` order.

    Example:

        .. code-block:: python

            from optuna_sotl.nas import arch_string

            ops = ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1"]
            assert arch_string(ops) == (
                "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
            )

    Raises:
        TypeError: when ``ops_per_edge`` is not a sequence of strings.
        ValueError: when it does not hold one supported operation per edge.
    """
    ops_per_edge = check_edge_ops(ops_per_edge)
    groups: list[list[str]] = [[] for _ in range(1, N_NODES)]
    for (to_node, from_node), op in zip(EDGES, ops_per_edge):
        groups[to_node - 1].append(f"{op}~{from_node}")
    return "+".join("|" + "|".join(group) + "|" for group in groups)


def parse_arch_string(arch: str) -> tuple[str, ...]:
    """The operation on each edge, in :data:`EDGES` order, of a NAS-Bench-201 arch string.

    The inverse of :func:`arch_string`.

    Example:

        .. code-block:: python

            from optuna_sotl.nas import parse_arch_string

            arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|"
            assert parse_arch_string(arch)[0] == "nor_conv_3x3"

    Raises:
        TypeError: when ``arch`` is not a string.
        ValueError: naming the offending part when the string is not a NAS-Bench-201 cell of
            supported operations.
    """
    if not isinstance(arch, str):
        raise TypeError(f"arch must be an arch string, got {type(arch).__name__}: {arch!r}.")
    groups = arch.split("+")
    if len(groups) != N_NODES - 1:
        raise ValueError(
            f"arch must have {N_NODES - 1} node groups joined by '+' "
            f"(like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'), got {arch!r}."
        )
    ops: list[str] = []
    for to_node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ValueError(
                f"arch group {group!r} of node {to_node} must look like '|op~0|...|', "
                f"in arch {arch!r}."
            )
        entries = group[1:-1].split("|")
        if len(entries) != to_node:
            raise ValueError(
                f"arch group {group!r} of node {to_node} must have {to_node} edge(s), "
                f"got {len(entries)}, in arch {arch!r}."
            )
        for from_node, entry in enumerate(entries):
            op, tilde, source = entry.rpartition("~")
            if not tilde or source != str(from_node):
                raise ValueError(
                    f"arch entry {entry!r} of node {to_node} must be 'op~{from_node}', "
                    f"in arch {arch!r}."
                )
            _check_op(op, "arch")
            ops.append(op)
    return tuple(ops)


def suggest_cell(
    trial: optuna.trial.Trial, ops: Sequence[str] = DEFAULT_OPS, prefix: str = "edge"
) -> str:
    """Suggest a NAS-Bench-201 cell and return its arch string.

    Each edge ``j <- i`` is one categorical parameter named ``"{prefix}_{j}<-{i}"``
    (:func:`edge_param_name`): ``edge_1<-0``, ``edge_2<-0``, ``edge_2<-1``, ``edge_3<-0``,
    ``edge_3<-1`` and ``edge_3<-2`` by default, with ``ops`` as its choices. Keeping one parameter
    per edge lets TPE learn which operation suits which edge, and shows each edge as a column of
    optuna-dashboard's trial table.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl.nas import parse_arch_string
            from optuna_sotl.nas import suggest_cell


            def objective(trial):
                arch = suggest_cell(trial)
                return sum(op == "nor_conv_3x3" for op in parse_arch_string(arch))


            study = optuna.create_study(direction="maximize")
            study.optimize(objective, n_trials=5)
            print(study.best_trial.params["edge_1<-0"])

    Args:
        trial:
            The trial to suggest the cell in.
        ops:
            The candidate operations of every edge, a subset of :data:`DEFAULT_OPS`.
        prefix:
            The start of the parameter names; change it to search two cells in one trial.
    """
    if not isinstance(trial, optuna.trial.BaseTrial):
        raise TypeError(f"trial must be an optuna trial, got {type(trial).__name__}.")
    ops = check_ops(ops)
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string, got {prefix!r}.")
    chosen = [trial.suggest_categorical(edge_param_name(edge, prefix), ops) for edge in EDGES]
    return arch_string(chosen)


def _check_op(op: object, name: str) -> None:
    if not isinstance(op, str) or op not in SUPPORTED_OPS:
        raise ValueError(
            f"{name} has an unknown operation {op!r}; the operations are "
            f"{', '.join(DEFAULT_OPS)}."
        )
