# Demo student trained alone with cross-entropy: resnet8 on the digits.
_base_ = [
    '../_base_/models/cifar/resnet8.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_sgd_6e.py',
    './demo_runtime.py',
]
model = dict(head=dict(num_classes=10))
