# FitNets alone: resnet32x4 teacher -> resnet8x4 student on CIFAR-100; the
# teacher and the student see all N samples. The hint is stage 2, of 128
# channels in both networks. The settings and their provenance are in
# configs/_base_/methods/fitnets.py.
_base_ = ['../kd_r32x4_r8x4_cifar100.py', '../_base_/methods/fitnets.py']

model = _base_.fitnets_model
model.feature_losses.loss_fitnets.update(
    student_channels=128, teacher_channels=128)
