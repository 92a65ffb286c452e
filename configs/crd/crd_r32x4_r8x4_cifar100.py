# CRD alone: resnet32x4 teacher -> resnet8x4 student on CIFAR-100; the teacher
# and the student see all N samples. Both networks embed each image in 256
# dimensions. The settings and their provenance are in
# configs/_base_/methods/crd.py.
_base_ = ['../kd_r32x4_r8x4_cifar100.py', '../_base_/methods/crd.py']

model = _base_.crd_model
model.feature_losses.loss_crd.update(
    student_channels=256, teacher_channels=256)
