"""``import mmunix`` refuses OpenMMLab versions outside the supported range."""
import pytest

from mmunix.utils import check_dependency_versions
from mmunix.utils.version_check import SUPPORTED_VERSIONS


def test_installed_stack_is_supported():
    check_dependency_versions()
    assert set(SUPPORTED_VERSIONS) == {'mmengine', 'mmcv', 'mmpretrain'}


def test_too_new_version_names_package_version_and_fix():
    with pytest.raises(ImportError) as err:
        check_dependency_versions(
            {'mmengine': ('0.1.0', '0.2.0', 'mmengine>=0.1.0,<0.2.0')})
    message = str(err.value)
    assert 'mmengine==' in message
    assert 'mmengine>=0.1.0,<0.2.0' in message
    assert 'pip install' in message


def test_missing_package_is_reported_with_its_install_command():
    with pytest.raises(ImportError, match='not_a_real_pkg is not installed'):
        check_dependency_versions(
            {'not_a_real_pkg': ('1.0', '2.0', 'not_a_real_pkg>=1.0')})
