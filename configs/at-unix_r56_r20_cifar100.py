# Attention transfer + UNIX: resnet56 teacher -> resnet20 student. UNIX cuts
# the teacher queries of AT as it does for KD. AT pairs the outputs of the
# three residual stages (stage 0 is the stem), with the CRD benchmark's
# weight of 1000, on top of the KD loss of the reference recipe.
_base_ = ['./unix_r56_r20_cifar100.py']

model = dict(
    teacher=dict(backbone=dict(out_indices=(1, 2, 3))),
    student=dict(backbone=dict(out_indices=(1, 2, 3))),
    feature_losses=dict(loss_at=dict(type='ATLoss', p=2, loss_weight=1000.0)))
