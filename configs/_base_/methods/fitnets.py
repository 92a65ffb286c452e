# FitNets (FitNetsLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill hint -a 0 -b 100", with the
# defaults "-r 1" and "--hint_layer 2" of train_student.py): cross-entropy
# weight 1, no KD loss, and the hint loss with weight 100 on the output of the
# second residual stage, regressed through a 1x1 convolution, BatchNorm and
# ReLU (its models/util.py, ConvReg). The backbones return the three residual
# stages (out_indices=(1, 2, 3); stage 0 is the stem), the last for the head;
# the hint is the second of them (stages=(1, )).
# mdistiller uses the same values (mdistiller/engine/cfg.py, CFG.FITNET). The
# mmunix KD recipe is KD weight 1 and CE weight 0 instead; to add the KD loss
# use --cfg-options model.kd_loss.loss_weight=1.0.
# A pair's config takes these settings and gives the stage's channels:
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/fitnets.py']
#   model = _base_.fitnets_model
#   model.feature_losses.loss_fitnets.update(
#       student_channels=C_s, teacher_channels=C_t)
fitnets_model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    teacher=dict(backbone=dict(out_indices=(1, 2, 3))),
    student=dict(backbone=dict(out_indices=(1, 2, 3))),
    feature_losses=dict(
        loss_fitnets=dict(
            type='FitNetsLoss',
            stages=(1, ),
            connector=dict(type='ConvBNConnector', kernel_size=1),
            loss_weight=100.0)))
