# PKT + UNIX: pkt_r56_r20_cifar100.py with UNIX's data preprocessor, so the
# teacher and the student's training step see the k mixed samples UNIX keeps.
_base_ = [
    './pkt_r56_r20_cifar100.py', '../_base_/distillers/unix_preprocessor.py'
]
data_preprocessor = _base_.unix_data_preprocessor
