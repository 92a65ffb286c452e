from mmengine.registry import init_default_scope as init_scope


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

    if init_default_scope:
        # Warns and switches when another scope is current, as mmpretrain's.
        init_scope('mmunix')
