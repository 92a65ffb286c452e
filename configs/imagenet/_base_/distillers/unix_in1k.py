# UNIX on ImageNet-1k (docs/algorithm.md): of each GPU's batch of 32 the
# teacher and the student's training step see k=24 samples, the b=16 most
# uncertain of them clean. Under DDP each rank ranks and mixes its own batch
# (docs/clusters.md), so k and b are fractions of the local batch: 0.75 and
# 0.5 of 32, as 48 and 32 of 64 on CIFAR-100. Losses and schedule as in
# kd_in1k.py.
_base_ = ['./kd_in1k.py', '../../../_base_/distillers/unix_preprocessor.py']

data_preprocessor = _base_.unix_data_preprocessor
