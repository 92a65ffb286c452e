# RKD (RKDLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill rkd -a 0 -b 1", with the default
# "-r 1"; distiller_zoo/RKD.py weighs distances by 25 and angles by 50, the
# paper's values): cross-entropy weight 1, no KD loss, and RKD weight 1 on the
# embeddings the heads classify. mdistiller uses the same weights
# (mdistiller/engine/cfg.py, CFG.RKD). The mmunix KD recipe is KD weight 1
# and CE weight 0 instead; the benchmark's "+KD" variant is
# --cfg-options model.kd_loss.loss_weight=1.0.
# A pair's config takes these settings with
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/rkd.py']
#   model = _base_.rkd_model
rkd_model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(
        loss_rkd=dict(
            type='RKDLoss',
            distance_weight=25.0,
            angle_weight=50.0,
            loss_weight=1.0)))
