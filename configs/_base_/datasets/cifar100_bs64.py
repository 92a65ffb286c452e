# CIFAR-100 as the CIFAR-100 KD literature trains it: batch 64, random crop
# with 4-pixel padding and horizontal flip. Files go under
# data/cifar100/cifar-100-python/ (see docs/get_started.md).
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'

# Copies batches to the device without making the host wait for it.
data_preprocessor = dict(
    type='mmunix.DeviceClsDataPreprocessor',
    num_classes=100,
    # The usual CIFAR-100 statistics, on the 0-255 scale of the raw pixels.
    mean=[0.5071 * 255, 0.4866 * 255, 0.4409 * 255],
    std=[0.2675 * 255, 0.2565 * 255, 0.2761 * 255],
    # CIFAR pickles store RGB planes already.
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

# Loader settings for one GPU (docs/benchmarks.md, "Sizing the loader"):
# batches stacked in the workers and pinned, so that each goes to the device
# in one non-blocking copy; 4 workers keep a GPU busy with r56->r20 at batch
# 64 on CPUs like those of the CUDA benchmarks.
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
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
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
