from .teacher_query_hook import TeacherQueryHook

__all__ = ['TeacherQueryHook']
