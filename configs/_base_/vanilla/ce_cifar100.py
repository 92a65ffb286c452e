# A CIFAR-100 student trained alone with cross-entropy, on the recipe of the
# distillation configs (configs/_base_/distillers/kd_cifar100.py without the
# distiller): batch 64, SGD, lr 0.05, 240 epochs, x0.1 at 150/180/210. A leaf
# config adds a model from ../models/cifar/ and, where its distillation configs
# do, a lower learning rate.
_base_ = [
    '../datasets/cifar100_bs64.py',
    '../schedules/cifar100_sgd_240e.py',
    '../default_runtime.py',
]
