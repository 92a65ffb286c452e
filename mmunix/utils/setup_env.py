import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmunix (and mmpretrain) module so that it registers.

    Args:
        init_default_scope (bool): Also make ``'mmunix'`` the default scope,
            so that registries build from mmunix's nodes first and fall back
            to mmpretrain's and MMEngine's. Defaults to True.
    """
    from mmpretrain.utils import register_all_modules as register_mmpretrain
    register_mmpretrain(init_default_scope=False)

    import mmunix.datasets  # noqa: F401
    import mmunix.engine  # noqa: F401
    import mmunix.models  # noqa: F401

    if not init_default_scope:
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope is None:
        DefaultScope.get_instance('mmunix', scope_name='mmunix')
    elif current_scope.scope_name != 'mmunix':
        warnings.warn(f'The current default scope '
                      f'"{current_scope.scope_name}" is not "mmunix"; '
                      '`register_all_modules` switches it to "mmunix". Pass '
                      '`init_default_scope=False` to keep it.')
        # A new instance name avoids clashing with the existing one.
        DefaultScope.get_instance(f'mmunix-{datetime.datetime.now()}',
                                  scope_name='mmunix')
