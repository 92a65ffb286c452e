"""mmunix's registry nodes.

Each node is a child of the mmpretrain node of the same name, which is itself
a child of MMEngine's root node. With ``default_scope='mmunix'`` a config
finds mmunix components first and falls back to mmpretrain and MMEngine ones,
and ``mmpretrain.XXX`` / ``mmengine.XXX`` still names a parent explicitly.

Downstream projects register into these nodes (``@MODELS.register_module()``)
and make the module importable through ``custom_imports`` in their config.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

RUNNERS = Registry(
    'runner',
    parent=mmpretrain_registry.RUNNERS,
    scope='mmunix',
    locations=['mmunix.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=mmpretrain_registry.RUNNER_CONSTRUCTORS,
    scope='mmunix',
    locations=['mmunix.engine'])
LOOPS = Registry(
    'loop',
    parent=mmpretrain_registry.LOOPS,
    scope='mmunix',
    locations=['mmunix.engine'])
HOOKS = Registry(
    'hook',
    parent=mmpretrain_registry.HOOKS,
    scope='mmunix',
    locations=['mmunix.engine'])
LOG_PROCESSORS = Registry(
    'log processor',
    parent=mmpretrain_registry.LOG_PROCESSORS,
    scope='mmunix',
    locations=['mmunix.engine'])
OPTIMIZERS = Registry(
    'optimizer',
    parent=mmpretrain_registry.OPTIMIZERS,
    scope='mmunix',
    locations=['mmunix.engine'])
OPTIM_WRAPPERS = Registry(
    'optimizer_wrapper',
    parent=mmpretrain_registry.OPTIM_WRAPPERS,
    scope='mmunix',
    locations=['mmunix.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmunix',
    locations=['mmunix.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=mmpretrain_registry.PARAM_SCHEDULERS,
    scope='mmunix',
    locations=['mmunix.engine'])
DATASETS = Registry(
    'dataset',
    parent=mmpretrain_registry.DATASETS,
    scope='mmunix',
    locations=['mmunix.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=mmpretrain_registry.DATA_SAMPLERS,
    scope='mmunix',
    locations=['mmunix.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=mmpretrain_registry.TRANSFORMS,
    scope='mmunix',
    locations=['mmunix.datasets'])
MODELS = Registry(
    'model',
    parent=mmpretrain_registry.MODELS,
    scope='mmunix',
    locations=['mmunix.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=mmpretrain_registry.MODEL_WRAPPERS,
    scope='mmunix',
    locations=['mmunix.engine'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=mmpretrain_registry.WEIGHT_INITIALIZERS,
    scope='mmunix',
    locations=['mmunix.models'])
BATCH_AUGMENTS = Registry(
    'batch augment',
    parent=mmpretrain_registry.BATCH_AUGMENTS,
    scope='mmunix',
    locations=['mmunix.models'])
TASK_UTILS = Registry(
    'task util',
    parent=mmpretrain_registry.TASK_UTILS,
    scope='mmunix',
    locations=['mmunix.models'])
METRICS = Registry(
    'metric', parent=mmpretrain_registry.METRICS, scope='mmunix')
EVALUATORS = Registry(
    'evaluator', parent=mmpretrain_registry.EVALUATORS, scope='mmunix')
VISUALIZERS = Registry(
    'visualizer', parent=mmpretrain_registry.VISUALIZERS, scope='mmunix')
VISBACKENDS = Registry(
    'vis_backend', parent=mmpretrain_registry.VISBACKENDS, scope='mmunix')

__all__ = [
    'RUNNERS',
    'RUNNER_CONSTRUCTORS',
    'LOOPS',
    'HOOKS',
    'LOG_PROCESSORS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS',
    'BATCH_AUGMENTS',
    'TASK_UTILS',
    'METRICS',
    'EVALUATORS',
    'VISUALIZERS',
    'VISBACKENDS',
]
