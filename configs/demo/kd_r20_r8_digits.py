# Demo KD: the resnet20 teacher of teacher_resnet20_digits.py -> resnet8.
# tools/run_demo.py passes model.teacher_ckpt.
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_sgd_6e.py',
    './demo_runtime.py',
    '../_base_/distillers/kd.py',
]
# Six epochs are too few for the soft targets alone (the reference recipe's
# CE weight 0): the demo adds the label loss, as Hinton et al.'s KD does.
model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teacher_resnet20_digits.py'),
    student=dict(cfg_path='{{ fileDirname }}/student_resnet8_digits.py'),
    ce_loss=dict(loss_weight=1.0))
custom_hooks = [dict(type='TeacherQueryHook', interval=22)]
