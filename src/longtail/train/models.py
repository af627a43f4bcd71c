"""Architecture registry. Every model is ``Classifier(body, head)``: ``body`` maps images to the
penultimate representation (used by the last-layer-only experiment), ``head`` is one Linear."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import torch
import torchvision
from torch import nn

from longtail.config.errors import ConfigError

InputShape = tuple[int, int, int]  # (channels, height, width)


class Classifier(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def mlp(shape: InputShape, num_classes: int, hidden: tuple[int, ...] = (512, 256)) -> Classifier:
    """784-512-256-10 MLP of the authors' public MNIST demo (for other inputs, C*H*W-512-256)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = shape[0] * shape[1] * shape[2]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return Classifier(nn.Sequential(*layers), nn.Linear(width, num_classes))


def linear(shape: InputShape, num_classes: int) -> Classifier:
    """A linear classifier on flattened inputs (the last-layer-only experiment's model)."""
    return Classifier(nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], num_classes))


def cnn(shape: InputShape, num_classes: int) -> Classifier:
    """Small CNN for 28x28 (or 32x32) inputs: two conv-pool stages and a 128-unit layer."""
    side = shape[1] // 4
    body = nn.Sequential(
        nn.Conv2d(shape[0], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * (shape[2] // 4), 128), nn.ReLU())
    return Classifier(body, nn.Linear(128, num_classes))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def resnet9(shape: InputShape, num_classes: int) -> Classifier:
    """ResNet-9 of the fast CIFAR recipes (Page's DAWNBench entry, airbench's ancestor)."""
    body = nn.Sequential(
        conv_bn(shape[0], 64),
        conv_bn(64, 128), nn.MaxPool2d(2), _Residual(128),
        conv_bn(128, 256), nn.MaxPool2d(2),
        conv_bn(256, 512), nn.MaxPool2d(2), _Residual(512),
        nn.AdaptiveMaxPool2d(1), nn.Flatten())
    return Classifier(body, nn.Linear(512, num_classes))


def _torchvision_resnet(name: str, shape: InputShape, num_classes: int) -> Classifier:
    """torchvision ResNet; inputs of side <= 64 get the CIFAR stem (3x3 conv, no max-pool)."""
    net = getattr(torchvision.models, name)(weights=None)
    if shape[1] <= 64:
        net.conv1 = nn.Conv2d(shape[0], 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif shape[0] != 3:
        net.conv1 = nn.Conv2d(shape[0], 64, 7, stride=2, padding=3, bias=False)
    width = net.fc.in_features
    net.fc = nn.Identity()
    return Classifier(net, nn.Linear(width, num_classes))


class _Inception(nn.Module):
    def __init__(self, c_in: int, c1: int, c3: int) -> None:
        super().__init__()
        self.branch1 = conv_bn(c_in, c1, 1)
        self.branch3 = conv_bn(c_in, c3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x)], dim=1)


class _Downsample(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = conv_bn(c_in, c_out, 3, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


def inception(shape: InputShape, num_classes: int) -> Classifier:
    """The small Inception for CIFAR (Zhang et al. 2017, used in the paper's Section C)."""
    body = nn.Sequential(
        conv_bn(shape[0], 96),
        _Inception(96, 32, 32), _Inception(64, 32, 48), _Downsample(80, 80),
        _Inception(160, 112, 48), _Inception(160, 96, 64), _Inception(160, 80, 80),
        _Inception(160, 48, 96), _Downsample(144, 96),
        _Inception(240, 176, 160), _Inception(336, 176, 160),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(body, nn.Linear(336, num_classes))


ARCHITECTURES: dict[str, Callable[[InputShape, int], Classifier]] = {
    "mlp": mlp,
    "linear": linear,
    "cnn": cnn,
    "resnet9": resnet9,
    "resnet18": lambda shape, k: _torchvision_resnet("resnet18", shape, k),
    "resnet50": lambda shape, k: _torchvision_resnet("resnet50", shape, k),
    "inception": inception,
}

# Architectures whose models train together as one hand-batched ensemble (see batched.py).
BATCHABLE = frozenset({"mlp", "linear"})
# ``mlp-W1-W2...``: an MLP with hidden widths W1, W2, ... (``mlp`` is ``mlp-512-256``).
MLP_WIDTHS = re.compile(r"mlp((?:-[1-9][0-9]*)+)")


def mlp_widths(arch: str) -> tuple[int, ...] | None:
    """Hidden widths of an ``mlp-W1-W2...`` arch name, None for any other name."""
    match = MLP_WIDTHS.fullmatch(arch)
    return tuple(int(w) for w in match.group(1)[1:].split("-")) if match else None


def is_batchable(arch: str) -> bool:
    """Whether ``arch`` is fully connected, so its models train as one batched ensemble."""
    return arch in BATCHABLE or mlp_widths(arch) is not None


def architecture(arch: str) -> Callable[[InputShape, int], Classifier]:
    """The constructor of a registered arch or of an ``mlp-W1-W2...`` name."""
    if arch in ARCHITECTURES:
        return ARCHITECTURES[arch]
    widths = mlp_widths(arch)
    if widths is None:
        raise ConfigError(f"unknown arch '{arch}'; known: {', '.join(sorted(ARCHITECTURES))} "
                         f"or mlp-W1-W2... (hidden widths)")
    return functools.partial(mlp, hidden=widths)


def build_model(arch: str, shape: InputShape, num_classes: int, seed: int) -> Classifier:
    """A freshly initialised model; the same seed always gives the same weights."""
    constructor = architecture(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return constructor(shape, num_classes)
