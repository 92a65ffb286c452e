# CRD alone: resnet56 teacher -> resnet20 student on CIFAR-100; the teacher and
# the student see all N samples. Both networks embed each image in 64
# dimensions. The settings and their provenance are in
# configs/_base_/methods/crd.py.
_base_ = ['../kd_r56_r20_cifar100.py', '../_base_/methods/crd.py']

model = _base_.crd_model
model.feature_losses.loss_crd.update(student_channels=64, teacher_channels=64)
