"""mmunix: computation-efficient knowledge distillation with UNIX.

Importing the package checks that the OpenMMLab libraries it builds on are in
the supported range, so a mismatched install fails here with the fix in the
message instead of deep inside a training run.
"""
import warnings

# mmcv-lite lacks compiled ops, and mmpretrain's import of mmcv's transformer
# bricks warns about one of them on every start. mmunix needs none of them.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
# The shipped dataloaders pin memory for fast copies to a GPU; on a machine
# without one PyTorch says, once per loader, that pinning is skipped.
warnings.filterwarnings(
    'ignore',
    message="'pin_memory' argument is set as true but no "
    'accelerator is found')

from .utils.version_check import check_dependency_versions  # noqa: E402
from .version import __version__, version_info  # noqa: E402

check_dependency_versions()

__all__ = ['__version__', 'version_info']
