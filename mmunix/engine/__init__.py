from .atomic_backend import AtomicLocalBackend, use_atomic_local_backend
# isort and yapf disagree on how to wrap this import; isort decides.
# yapf: disable
from .checkpoint_safety import (UnreadableCheckpointError,
                                UnsafeCheckpointError,
                                allow_mmengine_checkpoints,
                                load_from_http_weights_only,
                                load_from_local_weights_only,
                                load_from_model_zoo_weights_only,
                                mmengine_checkpoint_globals)
# yapf: enable
from .distributed import distributed_session, init_distributed
from .hooks import (DeferredRuntimeInfoHook, HardSampleHook, HostSyncCheckHook,
                    TeacherQueryHook)
from .model_wrapper import CPUCapableDDP
from .runner import CheckpointMismatchError, SafeRunner, latest_checkpoint

# Importing mmunix's engine (register_all_modules does) is what makes
# `--resume` work under torch>=2.6 while keeping weights-only loading, and
# what makes MMEngine write local checkpoints atomically.
allow_mmengine_checkpoints()
use_atomic_local_backend()

__all__ = [
    'AtomicLocalBackend', 'use_atomic_local_backend', 'CPUCapableDDP',
    'CheckpointMismatchError', 'SafeRunner', 'latest_checkpoint',
    'distributed_session', 'init_distributed', 'allow_mmengine_checkpoints',
    'load_from_local_weights_only', 'load_from_http_weights_only',
    'load_from_model_zoo_weights_only', 'mmengine_checkpoint_globals',
    'UnsafeCheckpointError', 'UnreadableCheckpointError', 'TeacherQueryHook',
    'HardSampleHook', 'DeferredRuntimeInfoHook', 'HostSyncCheckHook'
]
