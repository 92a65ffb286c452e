# CRD (CRDLoss) as the CRD/RepDistiller benchmark trains it
# (scripts/run_cifar_distill.sh, "--distill crd -a 0 -b 0.8", with the
# defaults "-r 1 --feat_dim 128 --nce_k 16384 --nce_t 0.07 --nce_m 0.5" of
# train_student.py): cross-entropy weight 1, no KD loss, and CRD with weight
# 0.8 on the embeddings the heads classify. mdistiller uses the same values
# (mdistiller/engine/cfg.py, CFG.CRD). The benchmark's "CRD+KD" ("-a 1 -b
# 0.8") is --cfg-options model.kd_loss.loss_weight=1.0.
# The memory banks have a row per training image: num_samples is the size of
# CIFAR-100's training set. CRD reads each sample's dataset index, which
# PackInputs keeps (sample_idx is in its default meta_keys, and the CIFAR
# pipelines of configs/_base_/datasets/ use those).
# A pair's config takes these settings and gives the embeddings' sizes:
#   _base_ = ['../kd_<pair>_cifar100.py', '../_base_/methods/crd.py']
#   model = _base_.crd_model
#   model.feature_losses.loss_crd.update(
#       student_channels=D_s, teacher_channels=D_t)
crd_model = dict(
    kd_loss=dict(loss_weight=0.0),
    ce_loss=dict(loss_weight=1.0),
    feature_losses=dict(
        loss_crd=dict(
            type='CRDLoss',
            num_samples=50000,
            feat_dim=128,
            num_negatives=16384,
            temperature=0.07,
            momentum=0.5,
            loss_weight=0.8)))
