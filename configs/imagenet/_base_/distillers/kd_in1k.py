# Conventional KD on ImageNet-1k: the teacher and the student see all N
# samples of each batch (32 per GPU, 256 in total).
#
# Loss weights: KD 0.5 at T=1 plus CE 0.5, not the CIFAR-100 reference recipe
# (KD 1.0 at T=4, CE 0.0; see "The training step" in docs/algorithm.md).
# ImageNet students are trained with the label loss as well; these are the
# weights of the ImageNet KD baselines of DKD (mdistiller's
# configs/imagenet/r34_r18/kd.yaml and r50_mv2/kd.yaml), on this same
# 100-epoch schedule (lr 0.2 at batch 512 there, 0.1 at 256 here, so the same
# step per sample). Under UNIX the CE is the mixed CE (step 7 of the
# training step in docs/algorithm.md). A leaf config adds model.teacher,
# model.student and model.teacher_ckpt.
_base_ = [
    '../datasets/imagenet_bs32.py',
    '../schedules/imagenet_bs256.py',
    '../../../_base_/default_runtime.py',
    '../../../_base_/distillers/kd.py',
]

model = dict(
    kd_loss=dict(temperature=1.0, loss_weight=0.5),
    ce_loss=dict(loss_weight=0.5))
