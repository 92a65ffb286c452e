# wrn_16_2 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_wrn40-2_wrn16-2_cifar100.py, on the same recipe.
_base_ = [
    '../_base_/models/cifar/wrn_16_2.py',
    '../_base_/vanilla/ce_cifar100.py',
]
