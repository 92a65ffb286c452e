from .model_config import model_config, resolve_config_path
from .setup_env import register_all_modules
from .version_check import check_dependency_versions

__all__ = [
    'register_all_modules', 'check_dependency_versions', 'model_config',
    'resolve_config_path'
]
