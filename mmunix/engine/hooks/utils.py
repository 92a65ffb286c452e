"""What the distillation hooks share."""
from mmengine.model import is_model_wrapper


def get_distiller(runner, hook_name: str, *attributes: str):
    """The runner's model, unwrapped, checked to report ``attributes``.

    Args:
        runner (Runner): The runner the hook is registered in.
        hook_name (str): Named in the error, e.g. ``'TeacherQueryHook'``.
        *attributes (str): What the hook reads from the model, e.g.
            ``'sample_counts'``.

    Raises:
        TypeError: The model is not a distiller that reports them.
    """
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    missing = [name for name in attributes if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f'{hook_name} needs a distiller that reports '
            f'{" and ".join(attributes)} (e.g. ClassificationDistiller), got '
            f'{type(model).__name__}; remove the hook from custom_hooks for '
            'other models')
    return model
