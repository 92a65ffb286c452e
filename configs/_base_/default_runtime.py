default_scope = 'mmunix'

# MMEngine's Runner, except that load_from loads strictly (set
# load_from_strict = False for a partial load), --resume refuses checkpoints
# without training state or of another model with the reason, and
# auto-resume survives an empty or stale last_checkpoint. Named by import
# path, like the wrapper below, for MMEngine's root registry.
runner_type = 'mmunix.engine.SafeRunner'

default_hooks = dict(
    # MMEngine's RuntimeInfoHook reads every loss with .item() after every
    # iteration, which on a GPU makes the host wait for the device; this one
    # copies them to the host only where they are logged.
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # Stops a run whose losses or weights become NaN or Inf before a
    # checkpoint stores them; on_non_finite='skip' drops such steps instead.
    nan_guard=dict(type='NonFiniteGuardHook'),
    # Distillation runs: scores the teacher on the validation set before the
    # first iteration (set student_baseline_top1 to be warned of a teacher
    # weaker than the student alone). Does nothing for models without one.
    teacher_eval=dict(type='TeacherEvalHook'),
    # Writes summary.json and summary.md (best top-1, teacher top-1,
    # samples, compute, wall time) to the work dir at the end.
    run_summary=dict(type='RunSummaryHook'),
)

env_cfg = dict(
    # Every shipped dataset feeds images of one fixed size, so cuDNN's
    # autotuning pays off after the first iterations of each batch shape.
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# MMEngine's default DDP wrapper passes device_ids, which DDP rejects on the
# CPU; this one drops them there, so torchrun also works without GPUs. It is
# named by import path because the Runner looks wrappers up in MMEngine's root
# registry, which neither honours default_scope nor sees grandchild scopes.
model_wrapper_cfg = dict(
    type='mmunix.engine.CPUCapableDDP',
    broadcast_buffers=False,
    find_unused_parameters=False)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
