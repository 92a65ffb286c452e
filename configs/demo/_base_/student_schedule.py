# The students: the teacher's schedule over 100 epochs of one batch of their
# 64 digits, validated once at the end.
_base_ = ['./teacher_schedule.py']

param_scheduler = dict(T_max=100)
train_cfg = dict(max_epochs=100, val_interval=100)
