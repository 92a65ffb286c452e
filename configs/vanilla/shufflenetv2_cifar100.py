# ShuffleV2 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_r32x4_shv2_cifar100.py, on the same recipe.
_base_ = [
    '../_base_/models/cifar/shufflenetv2.py',
    '../_base_/vanilla/ce_cifar100.py',
]

# As in its distillation configs: MobileNetV2 and ShuffleNet students train
# with a lower rate.
optim_wrapper = dict(optimizer=dict(lr=0.01))
