from .hard_sample_hook import HardSampleHook
from .teacher_query_hook import TeacherQueryHook

__all__ = ['HardSampleHook', 'TeacherQueryHook']
