# NST (NSTLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill nst -a 0 -b 50", with the default
# "-r 1"): cross-entropy weight 1, no KD loss, and NST weight 50 summed over
# the outputs of the three residual stages (out_indices 1-3; 0 is the stem),
# the benchmark's feat[1:-1]. mdistiller uses the same weights
# (mdistiller/engine/cfg.py, CFG.NST). The mmunix KD recipe is KD weight 1
# and CE weight 0 instead; the benchmark's "+KD" variant is
# --cfg-options model.kd_loss.loss_weight=1.0.
# A pair's config takes these settings with
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/nst.py']
#   model = _base_.nst_model
nst_model = dict(
    teacher=dict(backbone=dict(out_indices=(1, 2, 3))),
    student=dict(backbone=dict(out_indices=(1, 2, 3))),
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(loss_nst=dict(type='NSTLoss', loss_weight=50.0)))
