"""CIFAR's pad-and-crop plus horizontal flip, on a whole batch at once."""
from numbers import Real

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from torch import nn

from mmunix.registry import MODELS

#: Distance between the seeds of two processes, large so that process r of
#: a run seeded s does not draw what process 0 of a run seeded s + r draws.
_SEED_STRIDE = 1_000_003


@MODELS.register_module()
class BatchRandomCropFlip(nn.Module):
    """Random crop with zero padding, then a random horizontal flip, for a
    whole batch on its device.

    The usual CIFAR augmentation, ``RandomCrop(size, padding=p)`` followed by
    ``RandomFlip(prob, direction='horizontal')``, as one gather on the device
    instead of a per-sample pipeline in loader workers: for machines with
    few CPU cores per GPU. Each sample draws its own offsets and flip, so the
    distribution is that of the per-sample pipeline: the image is padded by
    ``p`` zero pixels on every side, a window of the original size is cut at
    a uniform offset ``(dy, dx)`` in ``[0, 2p]²`` (a shift in ``[-p, p]²``),
    and the window is mirrored left-right with probability ``flip_prob``.

    It draws on the batch's device, never waiting for it, from a generator
    of its own seeded with PyTorch's initial seed (``randomness.seed``) and
    the process's rank: MMEngine seeds every DDP process alike, so the global
    generator would give every GPU the same crops and flips, where the CPU
    pipeline's loader workers draw per process.

    Args:
        padding (int): ``p``, zero pixels added on each side. Defaults to 4.
        flip_prob (float): Probability of a horizontal flip. Defaults to 0.5.
    """

    def __init__(self, padding: int = 4, flip_prob: float = 0.5):
        super().__init__()
        if isinstance(padding, bool) or not isinstance(padding, int) \
                or padding < 0:
            raise ValueError(f'BatchRandomCropFlip: padding={padding!r} must '
                             'be an int >= 0')
        if isinstance(flip_prob, bool) or not isinstance(
                flip_prob, Real) or not 0 <= flip_prob <= 1:
            raise ValueError(f'BatchRandomCropFlip: flip_prob={flip_prob!r} '
                             'must be a number in [0, 1]')
        self.padding = padding
        self.flip_prob = float(flip_prob)
        self._generators = {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Augment ``(N, C, H, W)`` images of any dtype; same shape out."""
        num, device = images.size(0), images.device
        generator = self._generator(device)
        offsets = torch.randint(
            0,
            2 * self.padding + 1, (2, num),
            generator=generator,
            device=device)
        flips = torch.rand(
            num, generator=generator, device=device) < self.flip_prob
        return self.crop_flip(images, offsets[0], offsets[1], flips)

    def _generator(self, device: torch.device) -> torch.Generator:
        """This process's generator on ``device``, made at first use."""
        if device not in self._generators:
            seed = torch.initial_seed() + _SEED_STRIDE * get_rank()
            self._generators[device] = torch.Generator(device).manual_seed(
                seed % 2**63)
        return self._generators[device]

    def crop_flip(self, images: torch.Tensor, offsets_y: torch.Tensor,
                  offsets_x: torch.Tensor,
                  flips: torch.Tensor) -> torch.Tensor:
        """Pad, crop and flip with given parameters.

        Args:
            images (Tensor): ``(N, C, H, W)``.
            offsets_y, offsets_x (Tensor): ``(N,)`` ints in ``[0, 2p]``: the
                top-left corner of each window in the padded image.
            flips (Tensor): ``(N,)`` bools, True to mirror the window.

        Returns:
            Tensor: ``(N, C, H, W)``, ``out[n, :, i, j] = padded[n, :,
            offsets_y[n] + i, offsets_x[n] + j']`` with ``j' = W-1-j`` where
            flipped, else ``j``.
        """
        num, channels, height, width = images.shape
        p = self.padding
        padded = F.pad(images, (p, p, p, p)) if p else images
        device = images.device
        rows = offsets_y.view(-1, 1) + torch.arange(height, device=device)
        cols = offsets_x.view(-1, 1) + torch.arange(width, device=device)
        cols = torch.where(flips.view(-1, 1), cols.flip(1), cols)
        return padded[torch.arange(num, device=device).view(-1, 1, 1, 1),
                      torch.arange(channels, device=device).view(1, -1, 1, 1),
                      rows.view(num, 1, height, 1),
                      cols.view(num, 1, 1, width)]

    def extra_repr(self) -> str:
        return f'padding={self.padding}, flip_prob={self.flip_prob}'
