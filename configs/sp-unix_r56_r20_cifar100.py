# Similarity-preserving KD + UNIX: resnet56 teacher -> resnet20 student. SP
# compares the batch similarity of the last stage's features, with the CRD
# benchmark's weight of 3000, on top of the KD loss of the reference recipe.
_base_ = ['./unix_r56_r20_cifar100.py']

model = dict(
    feature_losses=dict(loss_sp=dict(type='SPLoss', loss_weight=3000.0)))
