# Conventional KD: resnet50 teacher -> vgg8 student on CIFAR-100.
_base_ = ['./_base_/distillers/kd_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/resnet50_cifar100.py'),
    student=dict(cfg_path='{{ fileDirname }}/_base_/models/cifar/vgg8.py'),
    teacher_ckpt='work_dirs/resnet50_cifar100/epoch_240.pth')
