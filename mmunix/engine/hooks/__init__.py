from .checkpoint_hook import CheckpointHook
from .deferred_runtime_info_hook import DeferredRuntimeInfoHook
from .hard_sample_hook import HardSampleHook
from .host_sync_check_hook import HostSyncCheckHook
from .non_finite_guard_hook import NonFiniteGuardHook, NonFiniteTrainingError
from .run_summary_hook import RunSummaryHook
from .teacher_eval_hook import TeacherEvalHook
from .teacher_query_hook import TeacherQueryHook

__all__ = [
    'CheckpointHook', 'DeferredRuntimeInfoHook', 'HardSampleHook',
    'HostSyncCheckHook', 'NonFiniteGuardHook', 'NonFiniteTrainingError',
    'RunSummaryHook', 'TeacherEvalHook', 'TeacherQueryHook'
]
