# VID alone: resnet32x4 teacher -> resnet8x4 student on CIFAR-100; the teacher
# and the student see all N samples. Stages 1-3 have 64, 128 and 256 channels
# in both networks. The settings and their provenance are in
# configs/_base_/methods/vid.py.
_base_ = ['../kd_r32x4_r8x4_cifar100.py', '../_base_/methods/vid.py']

model = _base_.vid_model
model.feature_losses.loss_vid.update(
    student_channels=(64, 128, 256), teacher_channels=(64, 128, 256))
