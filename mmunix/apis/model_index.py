"""Make mmunix's models known to mmpretrain's ``ModelHub`` by name.

An installed mmunix carries its configs and its model index in
``mmunix/.mim/`` (see ``setup.py`` and docs/mim.md). After
:func:`register_models`, ``mmpretrain.apis.get_model(name)`` and
mmpretrain's inferencers build any model of the index by name.
"""
import os.path as osp
from typing import List

import mmunix

#: The resources an installed mmunix carries: ``configs/``, ``tools/`` and
#: ``model-index.yml``, as OpenMMLab's ``mim`` expects them.
MIM_ROOT = osp.join(osp.dirname(osp.abspath(mmunix.__file__)), '.mim')


def register_models() -> List[str]:
    """Register every model of ``mmunix/.mim/model-index.yml`` with
    mmpretrain's ``ModelHub``.

    A teacher or student entry builds the model of its config. A
    distillation entry builds its student, the model the run delivers: the
    model of the entry that its ``Student`` metadata names, one of mmunix's
    students alone (``configs/vanilla/``) or one of mmpretrain's models,
    with that config's data settings. Its checkpoint is the one that
    ``tools/model_converters/extract_student.py`` writes, e.g.::

        from mmpretrain.apis import get_model
        from mmunix.apis import register_models

        register_models()
        model = get_model('unix_r56_r20_cifar100',
                          pretrained='work_dirs/unix_r56_r20_cifar100/student.pth')

    The ``Config`` of a distillation entry in the index stays its training
    config, which ``mim train`` and ``mim test`` use. Registering again
    does nothing.

    Returns:
        list[str]: The names of mmunix's models, in the order of the index.
    """
    # mmpretrain.apis imports its inferencers: seconds, so only when asked.
    from mmpretrain.apis import ModelHub
    from modelindex.load_model_index import load

    index_file = osp.join(MIM_ROOT, 'model-index.yml')
    if not osp.isfile(index_file):
        raise FileNotFoundError(
            f'{index_file} does not exist: this mmunix was installed without '
            'its model index. Reinstall it from the repository with '
            '`pip install -e .` (or `pip install .`).')
    models = load(index_file).models
    names = [model.name for model in models]
    if ModelHub.has(names[0]):
        return names

    # A student may be one of mmpretrain's models, which ModelHub loads on
    # first use; load them now to look the names up.
    ModelHub._register_mmpretrain_models()
    ModelHub.register_model_index(index_file, config_prefix=MIM_ROOT)
    registered = ModelHub._models_dict
    for model in models:
        student = model.metadata.data.get('Student')
        if student is None:
            continue
        if student.lower() not in registered:
            raise ValueError(
                f'{model.name} in {model.filepath}: its Student {student!r} '
                'is a model neither of mmunix nor of mmpretrain')
        registered[model.name.lower()].config = \
            registered[student.lower()].config
    return names
