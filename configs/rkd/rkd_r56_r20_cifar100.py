# RKD alone: resnet56 teacher -> resnet20 student on CIFAR-100; the teacher
# and the student see all N samples. The settings and their provenance are in
# configs/_base_/methods/rkd.py.
_base_ = ['../kd_r56_r20_cifar100.py', '../_base_/methods/rkd.py']

model = _base_.rkd_model
