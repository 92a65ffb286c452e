# wrn_40_1 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_wrn40-2_wrn40-1_cifar100.py, on the same recipe.
_base_ = [
    '../_base_/models/cifar/wrn_40_1.py',
    '../_base_/vanilla/ce_cifar100.py',
]
