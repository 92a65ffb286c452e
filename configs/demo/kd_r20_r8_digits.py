# Demo KD: the resnet20 teacher of teacher_resnet20_digits.py -> resnet8 on
# the 64 digits of student_resnet8_digits.py. tools/run_demo.py passes
# model.teacher_ckpt.
_base_ = [
    './_base_/few_labels.py',
    './_base_/student_schedule.py',
    './demo_runtime.py',
    '../_base_/distillers/kd.py',
]
# The labels stay in the loss, as in Hinton et al.'s KD: the reference
# recipe's CE weight 0 is meant for 240 epochs of CIFAR-100.
model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teacher_resnet20_digits.py'),
    student=dict(cfg_path='{{ fileDirname }}/student_resnet8_digits.py'),
    ce_loss=dict(loss_weight=1.0))
custom_hooks = [dict(type='TeacherQueryHook', interval=20)]
