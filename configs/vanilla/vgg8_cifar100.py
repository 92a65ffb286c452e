# vgg8 trained alone with cross-entropy: the baseline of the student of
# configs/{kd,unix}_{vgg13,vgg16,r50}_vgg8_cifar100.py. The three pairs train
# vgg8 on one recipe (lr 0.05, whatever the teacher), so one baseline serves
# all of them.
_base_ = [
    '../_base_/models/cifar/vgg8.py',
    '../_base_/vanilla/ce_cifar100.py',
]
