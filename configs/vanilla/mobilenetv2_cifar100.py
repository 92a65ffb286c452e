# MobileNetV2 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_{vgg13,r50}_mbv2_cifar100.py. Both pairs train it on one
# recipe, so one baseline serves both.
_base_ = [
    '../_base_/models/cifar/mobilenetv2.py',
    '../_base_/vanilla/ce_cifar100.py',
]

# As in its distillation configs: MobileNetV2 and ShuffleNet students train
# with a lower rate.
optim_wrapper = dict(optimizer=dict(lr=0.01))
