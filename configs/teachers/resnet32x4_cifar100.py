# Teacher resnet32x4 on CIFAR-100 with the CIFAR-100 recipe of
# docs/get_started.md ("A first CIFAR-100 run").
_base_ = [
    '../_base_/models/cifar/resnet32x4.py',
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/cifar100_sgd_240e.py',
    '../_base_/default_runtime.py',
]
