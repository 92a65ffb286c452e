# ImageNet-1k as mmpretrain trains it (mmpretrain's
# configs/_base_/datasets/imagenet_bs32.py, which the resnet and mobilenet_v2
# teachers and students were trained with): 32 images per GPU, 256 on 8 GPUs.
# MMEngine cannot inherit that file as 'mmpretrain::...' here (its resolver
# needs pkg_resources), so it is repeated. Files go under data/imagenet/ in
# mmpretrain's layout: {train,val}/ and, optionally, meta/{train,val}.txt with
# lines `relative/path.JPEG label`.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'

# Copies batches to the device without making the host wait for it.
data_preprocessor = dict(
    type='mmunix.DeviceClsDataPreprocessor',
    num_classes=1000,
    # RGB statistics on the 0-255 scale.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # Images are decoded as BGR.
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# Loader settings for one GPU (docs/benchmarks.md, "Sizing the loader"):
# batches stacked in the workers and pinned, so that each goes to the device
# in one non-blocking copy. JPEG decoding is the bottleneck here: mmpretrain's
# 5 workers leave a modern GPU waiting, 8 is a floor, more if the cores allow.
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))

val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
