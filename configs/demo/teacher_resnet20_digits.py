# Demo teacher: resnet20 on the digits.
_base_ = [
    '../_base_/models/cifar/resnet20.py',
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/digits_sgd_6e.py',
    './demo_runtime.py',
]
model = dict(head=dict(num_classes=10))
# The deeper teacher trains best at the usual rate; the students' 0.2 makes it
# unstable in 6 epochs.
optim_wrapper = dict(optimizer=dict(lr=0.05))
