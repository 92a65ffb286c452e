# Conventional KD: vgg13 teacher -> mobilenetv2 student on CIFAR-100.
_base_ = ['./_base_/distillers/kd_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/vgg13_cifar100.py'),
    student=dict(
        cfg_path='{{ fileDirname }}/_base_/models/cifar/mobilenetv2.py'),
    teacher_ckpt='work_dirs/vgg13_cifar100/epoch_240.pth')

# MobileNetV2 and ShuffleNet students train with a lower rate.
optim_wrapper = dict(optimizer=dict(lr=0.01))

# The student alone reaches 65.79 % top-1 in the authors' release
# (docs/model_zoo.md); TeacherEvalHook warns of a teacher below that.
default_hooks = dict(teacher_eval=dict(student_baseline_top1=65.79))
