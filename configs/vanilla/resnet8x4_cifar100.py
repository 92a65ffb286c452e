# resnet8x4 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_r32x4_r8x4_cifar100.py, on the same recipe.
_base_ = [
    '../_base_/models/cifar/resnet8x4.py',
    '../_base_/vanilla/ce_cifar100.py',
]
