# DKD alone: resnet32x4 teacher -> resnet8x4 student on CIFAR-100; the
# teacher and the student see all N samples. The authors' recipe (mdistiller,
# configs/cifar100/dkd/res32x4_res8x4.yaml): cross-entropy weight 1, no KD
# loss, and DKD with mdistiller's default beta 8 for this pair; alpha 1, T 4
# and the ramp over the first 20 epochs are DKDLoss's defaults, which are
# mdistiller's (mdistiller/engine/cfg.py). The schedule is the one of the base.
_base_ = ['../kd_r32x4_r8x4_cifar100.py']

model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(loss_dkd=dict(type='DKDLoss', beta=8.0)))
