# UNIX's settings (docs/algorithm.md): of each batch of N the teacher and the
# student's training step see k=0.75*N samples, the b=0.5*N most uncertain of
# them clean (48 and 32 of CIFAR-100's 64). Fractions keep that meaning at any
# batch size and GPU count. A config turns any distillation method into
# method + UNIX with
#   _base_ = [<the method's config>, <this file>]
#   data_preprocessor = _base_.unix_data_preprocessor
# which keeps the normalisation of the method's data_preprocessor.
unix_data_preprocessor = dict(
    type='UNIXDataPreprocessor',
    num_selected=0.75,
    num_clean=0.5,
    sharpness=10.0,
    mix_alpha=1.0,
    scorer=dict(type='EntropyScorer'))
