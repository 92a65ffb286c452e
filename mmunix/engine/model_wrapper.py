"""A DDP wrapper that also wraps modules living on the CPU."""
from mmengine.model import MMDistributedDataParallel

from mmunix.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUCapableDDP(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for GPU and CPU (gloo) training.

    MMEngine's ``Runner.wrap_model`` always passes
    ``device_ids=[LOCAL_RANK]``. DDP rejects ``device_ids`` for a module whose
    parameters are on the CPU, so multi-process training on a machine without
    GPUs fails. This wrapper drops ``device_ids`` (and ``output_device``) for
    CPU modules and changes nothing on GPUs.

    Select it by import path, as ``configs/_base_/default_runtime.py`` does:
    ``model_wrapper_cfg = dict(type='mmunix.engine.CPUCapableDDP')``.
    """

    def __init__(self, module, **kwargs):
        first_param = next(module.parameters(), None)
        if first_param is not None and first_param.device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
