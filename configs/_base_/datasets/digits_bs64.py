# scikit-learn's 1,797 handwritten digits at 32x32x3 (mmunix's Digits): the
# offline demo data. Digits are not mirror-symmetric, so no flips.
dataset_type = 'Digits'

data_preprocessor = dict(
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

# The images are in memory: worker processes would only add start-up time.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
