# The standard 100-epoch ImageNet schedule (mmpretrain's
# configs/_base_/schedules/imagenet_bs256.py): SGD lr 0.1 for a total batch
# of 256 (8 GPUs x 32), x0.1 at epochs 30, 60 and 90. It is also the schedule
# of the ImageNet KD benchmarks (CRD, ReviewKD, DKD), for ResNet and
# MobileNet students alike.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))

param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# The learning rate belongs to a total batch of 256; --auto-scale-lr rescales
# it linearly for other totals.
auto_scale_lr = dict(base_batch_size=256)
