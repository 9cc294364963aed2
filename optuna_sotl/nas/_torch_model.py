"""The NAS-Bench-201 network in torch: a macro skeleton of stacked copies of one searched cell.

Importing this module imports torch; :mod:`optuna_sotl.nas` loads it only when
:func:`build_nb201_model` is first used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from optuna_sotl._checks import check_count
from optuna_sotl.nas._space import arch_string
from optuna_sotl.nas._space import check_edge_ops
from optuna_sotl.nas._space import EDGES
from optuna_sotl.nas._space import N_NODES
from optuna_sotl.nas._space import parse_arch_string


class ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's convolution unit: ReLU, then a bias-free convolution, then batch norm."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, padding: int = 0
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


def _make_op(name: str, channels: int) -> nn.Module | None:
    # None stands for the "none" operation: its edge adds nothing, so it is not computed at all.
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown operation {name!r}.")  # parse_arch_string rules this out


class NB201Cell(nn.Module):
    """One cell: node ``j`` is the sum of the operations on its edges from nodes ``i < j``."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        for (to_node, from_node), name in zip(EDGES, ops):
            op = _make_op(name, channels)
            if op is not None:
                self.edges[f"{to_node}<-{from_node}"] = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in range(1, N_NODES):
            terms = [
                self.edges[f"{to_node}<-{from_node}"](nodes[from_node])
                for from_node in range(to_node)
                if f"{to_node}<-{from_node}" in self.edges
            ]
            # A node with only "none" edges is zero, as in NAS-Bench-201.
            nodes.append(sum(terms[1:], terms[0]) if terms else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The block between stages: halves the resolution, changes the channels, has a shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, padding=1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """Stem, three stages of ``N`` cells with a residual reduction between stages, and a head."""

    def __init__(
        self,
        ops: Sequence[str],
        *,
        in_channels: int,
        num_classes: int,
        channels: int,
        cells_per_stage: int,
    ) -> None:
        super().__init__()
        self.arch = arch_string(ops)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        ]
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(NB201Cell(ops, width) for _ in range(cells_per_stage))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_nb201_model(
    arch: str | Sequence[str],
    *,
    in_channels: int,
    num_classes: int,
    channels: int = 16,
    cells_per_stage: int = 5,
) -> nn.Module:
    """Build the NAS-Bench-201 network of a cell as a torch module.

    The macro skeleton follows NAS-Bench-201: a 3x3 convolution and batch norm as stem; three
    stages of ``cells_per_stage`` copies of the cell at ``channels``, ``2 * channels`` and
    ``4 * channels`` channels, with a residual block between stages that halves the resolution
    and doubles the channels; then batch norm, ReLU, global average pooling and a linear layer.
    In the cell, ``nor_conv_*`` is ReLU-Conv-BN, ``avg_pool_3x3`` is a 3x3 average pool of stride
    1, ``skip_connect`` the identity and ``none`` zero; a node sums its incoming edges. The
    output is the logits, of shape ``(batch, num_classes)``; any input height and width works.

    Example:

        .. code-block:: python

            import torch
            from optuna_sotl.nas import build_nb201_model

            arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|"
            model = build_nb201_model(
                arch, in_channels=1, num_classes=10, channels=8, cells_per_stage=1
            )
            assert model(torch.zeros(4, 1, 8, 8)).shape == (4, 10)

    Args:
        arch:
            A NAS-Bench-201 arch string (from :func:`~optuna_sotl.nas.suggest_cell`), or the six
            edge operations in :data:`~optuna_sotl.nas.EDGES` order.
        in_channels:
            Channels of the input images (1 for grey, 3 for RGB).
        num_classes:
            Number of output logits.
        channels:
            Channels of the first stage (NAS-Bench-201 uses 16).
        cells_per_stage:
            ``N``, the cells per stage (NAS-Bench-201 uses 5).
    """
    ops = parse_arch_string(arch) if isinstance(arch, str) else check_edge_ops(arch, "arch")
    in_channels = check_count("in_channels", in_channels, minimum=1)
    num_classes = check_count("num_classes", num_classes, minimum=1)
    channels = check_count("channels", channels, minimum=1)
    cells_per_stage = check_count("cells_per_stage", cells_per_stage, minimum=1)
    return NB201Network(
        ops,
        in_channels=in_channels,
        num_classes=num_classes,
        channels=channels,
        cells_per_stage=cells_per_stage,
    )
