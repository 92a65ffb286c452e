# UNIX: resnet32x4 teacher -> resnet8x4 student on CIFAR-100.
_base_ = ['./_base_/distillers/unix_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/resnet32x4_cifar100.py'),
    student=dict(
        cfg_path='{{ fileDirname }}/_base_/models/cifar/resnet8x4.py'),
    teacher_ckpt='work_dirs/resnet32x4_cifar100/epoch_240.pth')

# The student alone reaches 72.51 % top-1 in the authors' release
# (docs/model_zoo.md); TeacherEvalHook warns of a teacher below that.
default_hooks = dict(teacher_eval=dict(student_baseline_top1=72.51))
