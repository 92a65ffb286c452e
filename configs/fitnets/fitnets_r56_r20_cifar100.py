# FitNets alone: resnet56 teacher -> resnet20 student on CIFAR-100; the teacher
# and the student see all N samples. The hint is stage 2, of 32 channels in
# both networks. The settings and their provenance are in
# configs/_base_/methods/fitnets.py.
_base_ = ['../kd_r56_r20_cifar100.py', '../_base_/methods/fitnets.py']

model = _base_.fitnets_model
model.feature_losses.loss_fitnets.update(
    student_channels=32, teacher_channels=32)
