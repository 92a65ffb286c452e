model = dict(
    type='ImageClassifier',
    backbone=dict(type='CIFARVGG', arch='vgg13'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
