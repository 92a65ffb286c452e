# The digits at their native 8x8 pixels: a CIFAR network costs 16 times less
# than at 32x32, which buys the demo its many epochs and seeds on a CPU.
_base_ = ['../../_base_/datasets/digits_bs64.py']

train_dataloader = dict(
    dataset=dict(
        image_size=8,
        pipeline=[
            dict(type='RandomCrop', crop_size=8, padding=1),
            dict(type='PackInputs'),
        ]))
val_dataloader = dict(dataset=dict(image_size=8))
test_dataloader = val_dataloader
