# resnet20 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix,at-unix,sp-unix}_r56_r20_cifar100.py, on the same recipe.
_base_ = [
    '../_base_/models/cifar/resnet20.py',
    '../_base_/vanilla/ce_cifar100.py',
]
