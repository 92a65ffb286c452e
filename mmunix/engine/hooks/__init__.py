from .deferred_runtime_info_hook import DeferredRuntimeInfoHook
from .hard_sample_hook import HardSampleHook
from .host_sync_check_hook import HostSyncCheckHook
from .teacher_query_hook import TeacherQueryHook

__all__ = [
    'DeferredRuntimeInfoHook', 'HardSampleHook', 'HostSyncCheckHook',
    'TeacherQueryHook'
]
