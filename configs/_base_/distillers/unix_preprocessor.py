# UNIX's settings on CIFAR-100 (docs/algorithm.md): of each batch of 64 the
# teacher and the student's training step see k=48 samples, the b=32 most
# uncertain of them clean. Fractions keep that meaning at any batch size and
# GPU count. A config turns any distillation method into method + UNIX with
#   _base_ = [<the method's config>, <this file>]
#   data_preprocessor = {{_base_.unix_data_preprocessor}}
# which keeps the normalisation of the method's data_preprocessor.
unix_data_preprocessor = dict(
    type='UNIXDataPreprocessor',
    num_selected=0.75,
    num_clean=0.5,
    sharpness=10.0,
    mix_alpha=1.0,
    scorer=dict(type='EntropyScorer'))
