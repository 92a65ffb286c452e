# Conventional KD on CIFAR-100 with the reference recipe of design.md §1: the
# teacher and the student see all N samples; KD weight 1 at T=4, CE weight 0.
# A leaf config adds model.teacher, model.student and model.teacher_ckpt.
_base_ = [
    '../datasets/cifar100_bs64.py',
    '../schedules/cifar100_sgd_240e.py',
    '../default_runtime.py',
]

model = dict(
    type='ClassificationDistiller',
    kd_loss=dict(type='KDLoss', temperature=4.0, loss_weight=1.0),
    ce_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=0.0))

# Logs teacher queries and the compute ratio against KD, and writes
# compute_report.json to the work dir (design.md §2).
custom_hooks = [dict(type='TeacherQueryHook', interval=100)]
