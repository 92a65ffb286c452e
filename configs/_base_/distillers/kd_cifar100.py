# Conventional KD on CIFAR-100 with the reference recipe of design.md §1: the
# teacher and the student see all N samples.
_base_ = [
    '../datasets/cifar100_bs64.py',
    '../schedules/cifar100_sgd_240e.py',
    '../default_runtime.py',
    './kd.py',
]
