# Demo student trained alone with cross-entropy: resnet8 on 64 digits.
_base_ = [
    '../_base_/models/cifar/resnet8.py',
    './_base_/few_labels.py',
    './_base_/student_schedule.py',
    './demo_runtime.py',
]
model = dict(head=dict(num_classes=10))
