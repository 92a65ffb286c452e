# Demo teacher: resnet20 on all 1,347 training digits at 8x8.
_base_ = [
    '../_base_/models/cifar/resnet20.py',
    './_base_/digits_8x8.py',
    './_base_/teacher_schedule.py',
    './demo_runtime.py',
]
model = dict(head=dict(num_classes=10))
default_hooks = dict(checkpoint=dict(interval=30))
