"""Plot how often UNIX picked each training sample as hard, across epochs.

Reads the ``epoch_{E}.npy`` files that ``HardSampleHook`` writes (one
``np.int64`` count per dataset index and epoch) and draws one PNG:

1. the histogram of selection frequency: how many samples were chosen
   0, 1, 2, ... times in epochs 1..E of the last epoch E, next to what
   selecting the same number of samples at random would give (binomial);
2. how that histogram moves across epochs: one row per epoch ``e``, the
   fraction of samples chosen 0..e times up to it (log colour scale);
3. per epoch, the fraction of samples not selected in that epoch, never
   selected up to it, and the fraction of its hard samples that were also
   hard in the epoch before (how stable the mined set is).

Within one epoch each sample is drawn once, so a single epoch's counts are
mostly 0 or 1; the histograms therefore use the counts summed up to each
epoch.

Example::

    python tools/analysis_tools/plot_hard_samples.py \\
        work_dirs/unix_r56_r20_cifar100 --out hard_samples.png
"""
import argparse
import glob
import math
import os.path as osp
import re
from typing import List, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

EPOCH_FILE = re.compile(r'^epoch_(\d+)\.npy$')


def find_counts_dir(path: str) -> str:
    """``path`` itself or its ``hard_samples/`` folder: the one holding
    ``epoch_*.npy``."""
    nested = osp.join(path, 'hard_samples')
    return nested if osp.isdir(nested) else path


def load_counts(folder: str) -> Tuple[List[int], np.ndarray]:
    """Epoch numbers in ascending order and the ``(num_epochs, num_samples)``
    int64 counts of ``folder``'s ``epoch_{E}.npy`` files."""
    files = {}
    for path in glob.glob(osp.join(folder, 'epoch_*.npy')):
        match = EPOCH_FILE.match(osp.basename(path))
        if match:
            files[int(match.group(1))] = path
    if not files:
        raise FileNotFoundError(
            f'no epoch_*.npy in {folder}: train with '
            "custom_hooks=[..., dict(type='HardSampleHook')]")
    epochs = sorted(files)
    counts = [np.load(files[epoch]) for epoch in epochs]
    sizes = {len(c) for c in counts}
    if len(sizes) != 1:
        raise ValueError(f'the epoch files in {folder} have different '
                         f'lengths {sorted(sizes)}: mixed runs?')
    return epochs, np.stack(counts).astype(np.int64)


def frequency_histograms(counts: np.ndarray) -> np.ndarray:
    """``(num_epochs, max_count + 1)``: row ``e`` holds how many samples were
    selected ``0, 1, 2, ...`` times in total up to epoch row ``e``."""
    totals = np.cumsum(counts, axis=0)
    width = int(totals[-1].max()) + 1
    return np.stack([np.bincount(row, minlength=width) for row in totals])


def random_selection_histogram(num_samples: int, num_epochs: int,
                               selections: int) -> np.ndarray:
    """Expected samples chosen ``0..num_epochs`` times when every epoch picks
    ``selections / num_epochs`` samples uniformly at random."""
    p = min(selections / (num_epochs * num_samples), 1.0)
    return num_samples * np.array([
        math.comb(num_epochs, j) * p**j * (1 - p)**(num_epochs - j)
        for j in range(num_epochs + 1)
    ])


def persistence(counts: np.ndarray) -> np.ndarray:
    """``(num_epochs,)`` fraction of each epoch's hard samples that were also
    hard in the epoch before; NaN for the first epoch."""
    hard = counts > 0
    out = np.full(len(counts), np.nan)
    for e in range(1, len(counts)):
        selected = hard[e].sum()
        if selected:
            out[e] = (hard[e] & hard[e - 1]).sum() / selected
    return out


def plot_hard_samples(epochs: List[int], counts: np.ndarray,
                      out_file: str) -> str:
    """Draw the three panels of this tool for ``(num_epochs, num_samples)``
    ``counts`` and save them to ``out_file``; return ``out_file``."""
    num_epochs, num_samples = counts.shape
    histograms = frequency_histograms(counts)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))

    last = histograms[-1]
    ax = axes[0]
    ax.bar(np.arange(len(last)), last, color='tab:blue', label='UNIX')
    expected = random_selection_histogram(num_samples, num_epochs,
                                          int(counts.sum()))
    ax.plot(
        np.arange(len(expected)),
        expected,
        'o--',
        color='tab:orange',
        label='random selection')
    ax.set_xlabel(f'times selected in epochs {epochs[0]}..{epochs[-1]}')
    ax.set_ylabel('samples')
    ax.set_title('Selection frequency')
    ax.legend()

    ax = axes[1]
    fractions = histograms / num_samples
    image = ax.imshow(
        np.where(fractions > 0, fractions, np.nan).T,
        origin='lower',
        aspect='auto',
        interpolation='nearest',
        norm=LogNorm(vmin=max(fractions[fractions > 0].min(), 1e-6), vmax=1.0),
        extent=(-0.5, num_epochs - 0.5, -0.5, fractions.shape[1] - 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(10, integer=True))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: str(epochs[int(x)])
                      if 0 <= int(x) < num_epochs else ''))
    ax.set_xlabel('epoch')
    ax.set_ylabel('times selected so far')
    ax.set_title('Selection frequency across epochs')
    fig.colorbar(image, ax=ax, label='fraction of samples')

    ax = axes[2]
    ax.plot(
        epochs, (counts == 0).mean(axis=1),
        'o-',
        label='not selected in the epoch')
    ax.plot(
        epochs, (np.cumsum(counts, axis=0) == 0).mean(axis=1),
        's-',
        label='never selected so far')
    ax.plot(
        epochs,
        persistence(counts),
        '^-',
        label='hard in the epoch before too')
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(10, integer=True))
    ax.set_xlabel('epoch')
    ax.set_ylabel('fraction')
    ax.set_title('Coverage and persistence')
    ax.legend()

    fig.suptitle(f'Hard samples of UNIX: {num_samples} training samples, '
                 f'{num_epochs} epochs')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file


def parse_args():
    parser = argparse.ArgumentParser(
        description='Plot the hard-sample counts of HardSampleHook')
    parser.add_argument(
        'path', help='a work dir, or the hard_samples folder inside it')
    parser.add_argument(
        '--out', help='PNG to write; defaults to <folder>/hard_samples.png')
    return parser.parse_args()


def main():
    args = parse_args()
    folder = find_counts_dir(args.path)
    epochs, counts = load_counts(folder)
    out_file = args.out or osp.join(folder, 'hard_samples.png')
    print(plot_hard_samples(epochs, counts, out_file))


if __name__ == '__main__':
    main()
