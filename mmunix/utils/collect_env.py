"""Describe the environment for a bug report.

Run ``python -m mmunix.utils.collect_env`` and paste its output into the
report. It prints MMEngine's report (platform, Python, CUDA and GPUs, compiler,
PyTorch, TorchVision, OpenCV, MMEngine) followed by the libraries mmunix adds
on top: MMCV with its flavour, MMPreTrain, fvcore and mmunix itself, one ``key:
value`` line each.
"""
import importlib.util
import os.path as osp
from collections import OrderedDict
from importlib import metadata
from typing import Iterable

import mmcv
import mmpretrain
from mmengine.utils.dl_utils import collect_env as collect_base_env

import mmunix

#: The pip distributions that install the ``mmcv`` package.
MMCV_DISTRIBUTIONS = ('mmcv', 'mmcv-full', 'mmcv-lite')


def describe_mmcv(version: str, has_ops: bool,
                  distributions: Iterable[str]) -> str:
    """Say which mmcv is installed: full (compiled ops) or mmcv-lite.

    mmcv-lite is mmcv without the compiled ops extension ``mmcv._ext``; the
    flavour is read from that extension, not from the distribution name,
    because two mmcv distributions installed together share one folder.

    Args:
        version (str): ``mmcv.__version__``.
        has_ops (bool): Whether ``mmcv._ext`` can be found.
        distributions (Iterable[str]): The installed names among
            :data:`MMCV_DISTRIBUTIONS`.

    Returns:
        str: e.g. ``'2.2.0 (mmcv-lite, no compiled ops)'``.
    """
    flavour = 'full mmcv, compiled ops' if has_ops else \
        'mmcv-lite, no compiled ops'
    description = f'{version} ({flavour})'
    distributions = sorted(distributions)
    if len(distributions) > 1:
        description += ('; several mmcv distributions share one folder: ' +
                        ', '.join(distributions))
    return description


def installed_distributions(names: Iterable[str]) -> list:
    """Return the names among ``names`` that pip has installed."""
    found = []
    for name in names:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def fvcore_version() -> str:
    """Return fvcore's version, or ``'not installed'``."""
    try:
        import fvcore
    except ImportError:
        return 'not installed'
    return fvcore.__version__


def collect_env(with_torch_compiling_info: bool = False) -> OrderedDict:
    """Collect MMEngine's environment report plus mmunix's libraries.

    Args:
        with_torch_compiling_info (bool): Keep MMEngine's long
            ``'PyTorch compiling details'`` entry. Defaults to False.

    Returns:
        OrderedDict: MMEngine's entries, then ``'MMCV'``, ``'MMPreTrain'``,
        ``'fvcore'``, ``'mmunix'`` (its version) and ``'mmunix path'`` (the
        folder it is imported from).
    """
    env_info = collect_base_env()
    if not with_torch_compiling_info:
        env_info.pop('PyTorch compiling details', None)
    env_info['MMCV'] = describe_mmcv(
        mmcv.__version__,
        importlib.util.find_spec('mmcv._ext') is not None,
        installed_distributions(MMCV_DISTRIBUTIONS))
    env_info['MMPreTrain'] = mmpretrain.__version__
    env_info['fvcore'] = fvcore_version()
    env_info['mmunix'] = mmunix.__version__
    env_info['mmunix path'] = osp.dirname(osp.abspath(mmunix.__file__))
    return env_info


def main() -> None:
    for name, value in collect_env().items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
