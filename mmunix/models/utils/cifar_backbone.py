"""What every backbone of the CIFAR zoo shares: stages and their selection.

Each backbone computes a list of stage features; ``out_indices`` picks the ones
it returns, so feature distillation (attention transfer over stages,
similarity-preserving on the last one) and plain classification use the same
module. Arguments are validated at build time, so a typo in a config fails with
the valid choices in the message, not deep inside ``forward``.
"""
from abc import abstractmethod
from typing import List, Mapping, Sequence, Tuple, TypeVar, Union

import torch
from mmpretrain.models.backbones.base_backbone import BaseBackbone

Setting = TypeVar('Setting')

#: Kaiming-normal (fan-out, ReLU) convolutions with zero bias: how the
#: community initialises its ResNets, WRNs, VGGs and MobileNetV2. BatchNorm
#: keeps PyTorch's (1, 0), which is also theirs.
KAIMING_CONV_INIT = dict(type='Kaiming', layer='Conv2d')


def parse_arch(owner: str, arch: str,
               arch_settings: Mapping[str, Setting]) -> Setting:
    """Look ``arch`` up in a backbone's arch table.

    Args:
        owner (str): The backbone class name, used in the error message.
        arch (str): The requested arch name, e.g. ``'resnet56'``.
        arch_settings (Mapping[str, Any]): The backbone's arch table.

    Returns:
        Any: ``arch_settings[arch]``.
    """
    if arch not in arch_settings:
        raise ValueError(f'{owner}: arch={arch!r} is not supported; valid '
                         f'archs are {sorted(arch_settings)}')
    return arch_settings[arch]


def parse_out_indices(owner: str, out_indices: Union[int, Sequence[int]],
                      num_stages: int) -> Tuple[int, ...]:
    """Normalise ``out_indices`` to sorted, unique, non-negative indices.

    Args:
        owner (str): The backbone class name, used in the error message.
        out_indices (int | Sequence[int]): Stage index or indices; negative
            ones count from the last stage.
        num_stages (int): How many stages the backbone has.

    Returns:
        tuple[int]: Indices in ``[0, num_stages)``, ascending.
    """
    if isinstance(out_indices, int):
        out_indices = (out_indices, )
    valid = f'valid indices are 0..{num_stages - 1} or -{num_stages}..-1'
    if len(out_indices) == 0:
        raise ValueError(f'{owner}: out_indices is empty; {valid}')
    normalised = set()
    for index in out_indices:
        if (isinstance(index, bool) or not isinstance(index, int)
                or not -num_stages <= index < num_stages):
            raise ValueError(f'{owner}: out_indices={tuple(out_indices)} '
                             f'holds {index!r}, but this backbone has '
                             f'{num_stages} stages; {valid}')
        normalised.add(index % num_stages)
    return tuple(sorted(normalised))


class CIFARBackbone(BaseBackbone):
    """Base of the CIFAR zoo: ``num_stages`` stages, ``out_indices`` of them.

    Stage 0 is the stem; the last stage ends with whatever the community
    network applies before global average pooling, so its output is exactly
    what the pooling consumes. A subclass sets ``num_stages`` and implements
    :meth:`forward_stages`.

    Args:
        out_indices (int | Sequence[int]): Stages to return; negative indices
            count from the end. Defaults to ``(-1, )``, the last stage.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """
    num_stages: int

    def __init__(self,
                 out_indices: Union[int, Sequence[int]] = (-1, ),
                 init_cfg=None):
        super().__init__(init_cfg)
        self.out_indices = parse_out_indices(
            type(self).__name__, out_indices, self.num_stages)

    @abstractmethod
    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(N, 3, H, W)`` images -> the features of all stages, in order."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(N, 3, H, W)`` images -> the features of the stages in
        ``out_indices``, in ascending stage order."""
        feats = self.forward_stages(x)
        return tuple(feats[i] for i in self.out_indices)

    def train(self, mode: bool = True) -> 'CIFARBackbone':
        # BaseBackbone.train returns None; nn.Module's contract is ``self``,
        # which ``backbone.eval()`` chains rely on.
        super().train(mode)
        return self
