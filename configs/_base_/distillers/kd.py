# Conventional KD with the reference losses (step 7 of the training step in
# docs/algorithm.md): KD weight 1 at T=4, CE weight 0. A leaf config adds
# model.teacher, model.student and model.teacher_ckpt, plus a dataset, a
# schedule and the runtime.
model = dict(
    type='ClassificationDistiller',
    kd_loss=dict(type='KDLoss', temperature=4.0, loss_weight=1.0),
    ce_loss=dict(type='CrossEntropyLoss', use_soft=True, loss_weight=0.0))

# Logs teacher queries and the compute ratio against KD ("Compute accounting"
# in docs/algorithm.md), and writes compute_report.json to the work dir (see
# TeacherQueryHook in docs/config_reference.md).
custom_hooks = [dict(type='TeacherQueryHook', interval=100)]
