# Conventional KD on CIFAR-100 with the reference recipe: the teacher and the
# student see all N samples ("KD and UNIX in one model" in docs/algorithm.md;
# the schedule is in docs/get_started.md, "A first CIFAR-100 run").
_base_ = [
    '../datasets/cifar100_bs64.py',
    '../schedules/cifar100_sgd_240e.py',
    '../default_runtime.py',
    './kd.py',
]
