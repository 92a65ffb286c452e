# UNIX: resnet56 teacher -> resnet20 student on CIFAR-100.
_base_ = ['./_base_/distillers/unix_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/resnet56_cifar100.py'),
    student=dict(cfg_path='{{ fileDirname }}/_base_/models/cifar/resnet20.py'),
    teacher_ckpt='work_dirs/resnet56_cifar100/epoch_240.pth')
