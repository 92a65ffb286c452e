# VID alone: resnet56 teacher -> resnet20 student on CIFAR-100; the teacher and
# the student see all N samples. Stages 1-3 have 16, 32 and 64 channels in both
# networks. The settings and their provenance are in
# configs/_base_/methods/vid.py.
_base_ = ['../kd_r56_r20_cifar100.py', '../_base_/methods/vid.py']

model = _base_.vid_model
model.feature_losses.loss_vid.update(
    student_channels=(16, 32, 64), teacher_channels=(16, 32, 64))
