"""mmunix: computation-efficient knowledge distillation with UNIX.

Importing the package checks that the OpenMMLab libraries it builds on are in
the supported range, so a mismatched install fails here with the fix in the
message instead of deep inside a training run.
"""
from .utils.version_check import check_dependency_versions
from .version import __version__, version_info

check_dependency_versions()

__all__ = ['__version__', 'version_info']
