# The mmunix. scope lets plain mmpretrain (e.g. mmpretrain.apis) find the
# backbone as well as mmunix's own default scope.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='mmunix.CIFARResNet', arch='resnet8'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
