# PKT (PKTLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill pkt -a 0 -b 30000", with the
# default "-r 1"): cross-entropy weight 1, no KD loss, and PKT weight 30000 on
# the embeddings the heads classify. mdistiller uses the same weights
# (mdistiller/engine/cfg.py, CFG.PKT). The mmunix KD recipe is KD weight 1
# and CE weight 0 instead; the benchmark's "+KD" variant is
# --cfg-options model.kd_loss.loss_weight=1.0.
# A pair's config takes these settings with
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/pkt.py']
#   model = _base_.pkt_model
pkt_model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(loss_pkt=dict(type='PKTLoss', loss_weight=30000.0)))
