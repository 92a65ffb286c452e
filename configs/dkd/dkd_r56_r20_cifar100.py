# DKD alone: resnet56 teacher -> resnet20 student on CIFAR-100; the teacher
# and the student see all N samples. The authors' recipe (mdistiller,
# configs/cifar100/dkd/res56_res20.yaml): cross-entropy weight 1, no KD loss,
# and DKD with beta 2 for this pair; alpha 1, T 4 and the ramp over the first
# 20 epochs are DKDLoss's defaults, which are mdistiller's
# (mdistiller/engine/cfg.py). The schedule is the one of the base.
_base_ = ['../kd_r56_r20_cifar100.py']

model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(loss_dkd=dict(type='DKDLoss', beta=2.0)))
