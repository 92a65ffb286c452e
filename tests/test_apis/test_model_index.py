"""mmunix.apis.register_models: mmpretrain's get_model builds mmunix's
models by the names of model-index.yml."""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_script_in_process
from mmengine import Config
from modelindex.load_model_index import load

from mmunix.apis import MIM_ROOT, register_models
from mmunix.utils import resolve_config_path

EXTRACT_STUDENT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                           'extract_student.py')
#: The names of model-index.yml, and the config each one's get_model builds.
INDEX = {
    model.name: model
    for model in load(osp.join(REPO_ROOT, 'model-index.yml')).models
}


def built_config(model) -> str:
    """The config file that ``get_model(model.name)`` builds: the entry's own,
    or for a distillation entry its ``Student`` entry's (mmunix's vanilla
    config or mmpretrain's config)."""
    student = model.metadata.data.get('Student')
    if student is None:
        return osp.join(REPO_ROOT, model.config)
    if student in INDEX:
        return osp.join(REPO_ROOT, INDEX[student].config)
    cfg = Config.fromfile(osp.join(REPO_ROOT, model.config))
    return resolve_config_path(cfg.model.student.cfg_path)


def test_the_installed_index_is_the_repositorys():
    # An editable install links mmunix/.mim/* to the repository.
    for name in ('configs', 'tools', 'model-index.yml'):
        packaged = osp.realpath(osp.join(MIM_ROOT, name))
        assert packaged == osp.join(REPO_ROOT, name)


@pytest.mark.slow
def test_every_name_builds_its_config_or_its_students():
    from mmpretrain.apis import ModelHub, list_models

    names = register_models()
    assert names == list(INDEX)
    assert register_models() == names  # a second call changes nothing
    assert list_models('unix_') == sorted(
        n for n in names if n.startswith('unix_'))
    assert len(list_models('unix_')) == 12 + 2

    students = {}
    for name, model in INDEX.items():
        config = ModelHub.get(name).config
        assert osp.realpath(config.filename) == osp.realpath(
            built_config(model)), name
        students[name] = osp.relpath(osp.realpath(config.filename), REPO_ROOT)
    assert students['unix_r56_r20_cifar100'] == \
        'configs/vanilla/resnet20_cifar100.py'
    assert students['at-unix_r56_r20_cifar100'] == \
        'configs/vanilla/resnet20_cifar100.py'
    assert students['resnet56_cifar100'] == \
        'configs/teachers/resnet56_cifar100.py'
    assert students['kd_r50_mbv2_in1k'].endswith(
        'mmpretrain/.mim/configs/mobilenet_v2/mobilenet-v2_8xb32_in1k.py')
    # The metadata stay the entry's own: the student's measurements and
    # the authors' accuracy of the distillation run.
    metainfo = ModelHub.get('unix_r56_r20_cifar100')
    assert metainfo.metadata.data['Teacher'] == 'resnet56_cifar100'
    assert metainfo.results[0].metrics == {'Top 1 Accuracy': 70.41}


@pytest.mark.slow
def test_get_model_by_name_loads_an_extracted_student(tmp_path, monkeypatch):
    """Save a distiller, export its student with extract_student.py, and load
    that by the distillation config's name."""
    from mmpretrain.apis import get_model
    from mmpretrain.models import ImageClassifier

    from mmunix.registry import MODELS
    from mmunix.utils import register_all_modules

    register_all_modules()
    register_models()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/unix_r56_r20_cifar100.py'))
    cfg.model.teacher_ckpt = None
    distiller = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'epoch_240.pth'
    torch.save({'state_dict': distiller.state_dict(), 'meta': {}}, checkpoint)
    student = tmp_path / 'student.pth'
    assert run_script_in_process(monkeypatch, EXTRACT_STUDENT, checkpoint,
                                 student) is None

    model = get_model('unix_r56_r20_cifar100', pretrained=str(student))

    assert type(model) is ImageClassifier
    assert type(model.backbone).__name__ == 'CIFARResNet'
    loaded = model.state_dict()
    expected = distiller.student.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    # The student's CIFAR-100 normalisation, from configs/vanilla/.
    assert type(model.data_preprocessor).__name__ == \
        'DeviceClsDataPreprocessor'
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx(
        [0.5071 * 255, 0.4866 * 255, 0.4409 * 255])
    inputs = torch.rand(2, 3, 32, 32)
    distiller.student.eval()
    assert torch.equal(model(inputs), distiller.student(inputs, mode='tensor'))


def test_a_missing_index_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr('mmunix.apis.model_index.MIM_ROOT', str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        register_models()
    assert str(error.value) == (
        f'{tmp_path}/model-index.yml does not exist: this mmunix was '
        'installed without its model index. Reinstall it from the '
        'repository with `pip install -e .` (or `pip install .`).')


@pytest.mark.slow
def test_a_student_of_no_registered_model_is_refused(tmp_path, monkeypatch):
    from mmpretrain.apis import ModelHub

    (tmp_path / 'model-index.yml').write_text(
        'Models:\n'
        '  - Name: kd_test_only_orphan\n'
        '    Metadata:\n'
        '      Student: no_such_student\n'
        '    Config: configs/kd_r56_r20_cifar100.py\n')
    monkeypatch.setattr('mmunix.apis.model_index.MIM_ROOT', str(tmp_path))
    try:
        with pytest.raises(ValueError) as error:
            register_models()
    finally:
        ModelHub._models_dict.pop('kd_test_only_orphan', None)
    assert str(error.value) == (
        f"kd_test_only_orphan in {tmp_path}/model-index.yml: its Student "
        "'no_such_student' is a model neither of mmunix nor of mmpretrain")
