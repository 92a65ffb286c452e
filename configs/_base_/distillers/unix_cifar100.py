# UNIX on CIFAR-100 with the reference KD losses; the UNIX settings are in
# unix_preprocessor.py.
_base_ = ['./kd_cifar100.py', './unix_preprocessor.py']

data_preprocessor = _base_.unix_data_preprocessor
