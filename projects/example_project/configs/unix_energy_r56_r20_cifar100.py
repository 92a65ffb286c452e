# UNIX resnet56 -> resnet20 on CIFAR-100 with two components of the
# downstream package unix_extras: the student ranks each batch by the energy
# of its logits instead of their entropy, and a cosine loss aligns resnet20's
# last-stage features with resnet56's, on top of the reference KD loss.
# Run it from the mmunix root with PYTHONPATH=projects/example_project (see
# projects/example_project/README.md).
_base_ = ['../../../configs/unix_r56_r20_cifar100.py']

# Imports unix_extras when the config is read, which registers EnergyScorer
# and CosineKDLoss in mmunix's registries; a failed import is an error.
custom_imports = dict(imports=['unix_extras'], allow_failed_imports=False)

# _delete_ drops the base scorer's arguments instead of merging into them.
data_preprocessor = dict(
    scorer=dict(_delete_=True, type='EnergyScorer', temperature=1.0))

# Both backbones return their last stage by default: (N, 64, 8, 8) each.
model = dict(
    feature_losses=dict(
        loss_cosine=dict(type='CosineKDLoss', loss_weight=1.0)))
