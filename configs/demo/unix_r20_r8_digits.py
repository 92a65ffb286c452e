# Demo UNIX: as kd_r20_r8_digits.py, but the teacher and the student's
# training step see 48 of every 64 samples (docs/algorithm.md).
_base_ = ['./kd_r20_r8_digits.py']
data_preprocessor = dict(
    type='UNIXDataPreprocessor', num_selected=0.75, num_clean=0.5)
