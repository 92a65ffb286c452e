# The mmunix. scope lets plain mmpretrain (e.g. mmpretrain.apis) find the
# backbone as well as mmunix's own default scope.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmunix.CIFARMobileNetV2', widen_factor=0.5, expand_ratio=6),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
