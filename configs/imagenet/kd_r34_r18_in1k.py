# Conventional KD: ResNet-34 teacher -> ResNet-18 student on ImageNet-1k,
# both mmpretrain's own models, taken from mmpretrain's configs. The teacher
# is mmpretrain's resnet34_8xb32_in1k checkpoint (73.62 % top-1).
_base_ = ['./_base_/distillers/kd_in1k.py']

model = dict(
    teacher=dict(cfg_path='mmpretrain::resnet/resnet34_8xb32_in1k.py'),
    student=dict(cfg_path='mmpretrain::resnet/resnet18_8xb32_in1k.py'),
    teacher_ckpt='https://download.openmmlab.com/mmclassification/v0/resnet/'
    'resnet34_8xb32_in1k_20210831-f257d4e6.pth')
