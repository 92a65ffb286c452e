# UNIX: wrn_40_2 teacher -> wrn_16_2 student on CIFAR-100.
_base_ = ['./_base_/distillers/unix_cifar100.py']

model = dict(
    teacher=dict(cfg_path='{{ fileDirname }}/teachers/wrn_40_2_cifar100.py'),
    student=dict(cfg_path='{{ fileDirname }}/_base_/models/cifar/wrn_16_2.py'),
    teacher_ckpt='work_dirs/wrn_40_2_cifar100/epoch_240.pth')
