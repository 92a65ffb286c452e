"""Refuse to run on OpenMMLab versions mmunix was not built against."""
from importlib import import_module

from mmengine.utils import digit_version

#: ``package -> (minimum inclusive, maximum exclusive, pip requirement)``.
SUPPORTED_VERSIONS = {
    'mmengine': ('0.10.0', '1.0.0', 'mmengine>=0.10.0,<1.0.0'),
    # mmcv-lite needs no compiler; a full mmcv in range works as well.
    'mmcv': ('2.0.0', '2.4.0', 'mmcv-lite>=2.0.0,<2.4.0'),
    'mmpretrain': ('1.2.0', '1.3.0', 'mmpretrain>=1.2.0,<1.3.0'),
}


def check_dependency_versions(supported: dict = SUPPORTED_VERSIONS) -> None:
    """Raise ``ImportError`` naming every dependency outside its range.

    Args:
        supported (dict): ``name -> (min, max_exclusive, requirement)``.
    """
    problems = []
    for name, (minimum, maximum, requirement) in supported.items():
        try:
            version = import_module(name).__version__
        except ImportError:
            problems.append(f'{name} is not installed; run '
                            f'`pip install "{requirement}"`')
            continue
        if not (digit_version(minimum) <= digit_version(version) <
                digit_version(maximum)):
            problems.append(f'{name}=={version} is installed but mmunix needs '
                            f'{name}>={minimum},<{maximum}; run '
                            f'`pip install "{requirement}"`')
    if problems:
        raise ImportError('mmunix cannot run with this environment:\n  ' +
                          '\n  '.join(problems))
