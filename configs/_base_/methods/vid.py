# VID (VIDLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill vid -a 0 -b 1", with the default
# "-r 1" of train_student.py): cross-entropy weight 1, no KD loss, and VID
# with weight 1 summed over the outputs of the three residual stages
# (out_indices=(1, 2, 3), its feat[1:-1]), each regressor as wide as the
# teacher's stage, initial variance 5 and variance floor 1e-5
# (distiller_zoo/VID.py). mdistiller agrees (mdistiller/engine/cfg.py,
# CFG.VID). Unlike the mmunix KD recipe (KD weight 1, CE weight 0), there is
# no KD loss; --cfg-options model.kd_loss.loss_weight=1.0 adds it.
# A pair's config takes these settings and gives the stages' channels:
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/vid.py']
#   model = _base_.vid_model
#   model.feature_losses.loss_vid.update(
#       student_channels=(C_s1, C_s2, C_s3), teacher_channels=(...))
vid_model = dict(
    teacher=dict(backbone=dict(out_indices=(1, 2, 3))),
    student=dict(backbone=dict(out_indices=(1, 2, 3))),
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(
        loss_vid=dict(
            type='VIDLoss', init_pred_var=5.0, eps=1e-5, loss_weight=1.0)))
