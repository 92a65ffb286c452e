# UNIX: wrn_40_2 teacher -> wrn_40_1 student on CIFAR-100.
_base_ = ['./_base_/distillers/unix_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/wrn_40_2_cifar100.py'),
    student=dict(cfg_path='{{ fileDirname }}/_base_/models/cifar/wrn_40_1.py'),
    teacher_ckpt='work_dirs/wrn_40_2_cifar100/epoch_240.pth')

# The student alone reaches 72.24 % top-1 in the authors' release
# (docs/model_zoo.md); TeacherEvalHook warns of a teacher below that.
default_hooks = dict(teacher_eval=dict(student_baseline_top1=72.24))
