"""Build a classifier from another config file's ``model``."""
import copy
import importlib.util
import os.path as osp

from mmengine.config import Config, ConfigDict


def resolve_config_path(path: str) -> str:
    """Turn ``'package::relative/path.py'`` into a file path.

    OpenMMLab packages ship their configs in ``<package>/.mim/configs``.
    MMEngine's own resolver (``mmengine.hub.get_config``) needs
    ``pkg_resources``, which recent setuptools no longer provide, so the
    package is located with ``importlib`` instead. Other paths are returned
    unchanged.
    """
    if '::' not in path:
        return path
    package, relative = path.split('::', 1)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f'{path!r}: package {package!r} is not installed')
    return osp.join(spec.submodule_search_locations[0], '.mim', 'configs',
                    relative)


def model_config(cfg: dict, key: str) -> ConfigDict:
    """The model config ``cfg`` describes, with ``cfg_path`` expanded.

    ``dict(cfg_path=PATH, **overrides)`` takes the ``model`` of the config
    file at ``PATH`` (a path, or
    ``'mmpretrain::resnet/resnet18_8xb32_in1k.py'``) and merges ``overrides``
    into it; any other dict is returned as is.

    Args:
        cfg (dict): A model config, possibly with ``cfg_path``.
        key (str): Config key of ``cfg``, for error messages.
    """
    cfg = copy.deepcopy(ConfigDict(cfg))
    path = cfg.pop('cfg_path', None)
    if path is None:
        return cfg
    file = resolve_config_path(path)
    if not osp.isfile(file):
        raise FileNotFoundError(f'{key}.cfg_path={path!r}: no such config '
                                f'file ({file})')
    loaded = Config.fromfile(file)
    if 'model' not in loaded:
        raise KeyError(f'{key}.cfg_path={path!r} defines no `model`')
    merged = Config(dict(model=loaded.model))
    merged.merge_from_dict(dict(model=cfg))
    return merged.model
