# scikit-learn's 1,797 handwritten digits at 32x32x3 (mmunix's Digits): the
# offline demo data. Digits are not mirror-symmetric, so no flips.
dataset_type = 'Digits'

# Copies batches to the device without making the host wait for it.
data_preprocessor = dict(
    type='mmunix.DeviceClsDataPreprocessor',
    num_classes=10,
    # Pixel statistics of the training split on the 0-255 scale.
    mean=[77.8, 77.8, 77.8],
    std=[82.5, 82.5, 82.5],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

# The images are in memory and the demo trains on a CPU, where loader
# processes compete with training for the cores: a demo teacher took 30.0 s
# without workers and 32.5 s with 2. On a GPU, set num_workers=2 and
# persistent_workers=True.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    pin_memory=True,
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
