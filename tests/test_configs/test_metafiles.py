"""model-index.yml and configs/**/metafile.yml agree with the configs.

Every config under configs/ but _base_/ and demo/ has one entry, whose
Parameters are counted from the model its config builds (a distiller's: its
student's), whose compute ratios follow from its FLOPs and its config's k/N,
and whose Results are the authors' accuracies of docs/model_zoo.md. FLOPs are
counted in the slow test at the end.
"""
import glob
import os.path as osp
import re

import pytest
from conftest import REPO_ROOT
from mmengine import Config
from modelindex.load_model_index import load

from mmunix.registry import MODELS
from mmunix.utils import model_config, register_all_modules
from mmunix.utils.complexity import measure_complexity

INDEX = osp.join(REPO_ROOT, 'model-index.yml')
#: Not indexed: the fragments in any _base_/, and the offline demo on 8x8
#: digits (configs/demo/, tools/run_demo.py), which is no model of the zoo.
NOT_INDEXED = ('_base_', 'demo')
REPORTED = 'Reported by the authors (UNIXKD README), not reproduced by mmunix'


def indexed_configs():
    configs = (
        osp.relpath(path, REPO_ROOT) for path in glob.glob(
            osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True))
    return sorted(
        config for config in configs
        if not set(config.split('/')[1:-1]) & set(NOT_INDEXED))


def load_config(path: str) -> Config:
    """A config of the repository, without the yapf pass that formats its text
    (a third of the time of parsing the 60-odd configs)."""
    return Config.fromfile(osp.join(REPO_ROOT, path), format_python_code=False)


@pytest.fixture(scope='module')
def entries():
    """``{name: (model-index Model, Config)}`` in the order of the index."""
    index = load(INDEX)
    assert not index.check_errors, index.check_errors
    return {
        model.name: (model, load_config(model.config))
        for model in index.models
    }


@pytest.fixture(scope='module')
def count_parameters():
    """Parameters of a model config, each distinct config built once."""
    register_all_modules()
    cache = {}

    def count(model_cfg) -> int:
        key = repr(model_cfg.to_dict())
        if key not in cache:
            model = MODELS.build(model_cfg)
            cache[key] = sum(p.numel() for p in model.parameters())
        return cache[key]

    return count


def metadata(model) -> dict:
    return model.metadata.data


def is_distiller(cfg: Config) -> bool:
    return 'student' in cfg.model


def without_out_indices(model_cfg) -> dict:
    """A model config without ``backbone.out_indices``, which feature
    distillation sets and which changes no parameter."""
    model_cfg = model_cfg.to_dict()
    model_cfg['backbone'].pop('out_indices', None)
    return model_cfg


def test_model_index_imports_every_metafile_once():
    with open(INDEX) as f:
        imported = re.findall(r'^  - (\S+)$', f.read(), flags=re.M)
    metafiles = glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', 'metafile.yml'), recursive=True)
    assert sorted(imported) == sorted(
        osp.relpath(path, REPO_ROOT) for path in metafiles)
    assert len(set(imported)) == len(imported)
    assert imported[:4] == [
        'configs/teachers/metafile.yml', 'configs/vanilla/metafile.yml',
        'configs/metafile.yml', 'configs/imagenet/metafile.yml'
    ]


def test_every_config_but_base_and_demo_has_one_entry(entries):
    configs = [model.config for model, _ in entries.values()]
    missing = sorted(set(indexed_configs()) - set(configs))
    assert not missing, (
        'configs without an entry in a metafile.yml (see "Add a config" in '
        f'CONTRIBUTING.md): {", ".join(missing)}')
    assert sorted(configs) == indexed_configs()
    assert len(configs) == len(set(configs))
    assert len(configs) >= 7 + 8 + 26 + 4
    for name, (model, _) in entries.items():
        assert osp.isfile(osp.join(REPO_ROOT, model.config))
        # The name is the config's, as in mmpretrain.
        assert name == osp.splitext(osp.basename(model.config))[0]
    # mim train/test look a config up by its file name alone.
    basenames = [osp.basename(config) for config in configs]
    assert len(set(basenames)) == len(basenames)


def test_training_metadata_is_the_recipe_of_the_config(entries):
    for name, (model, cfg) in entries.items():
        meta = metadata(model)
        imagenet = model.config.startswith('configs/imagenet/')
        assert meta['Training Data'] == ('ImageNet-1k'
                                         if imagenet else 'CIFAR-100'), name
        assert meta['Epochs'] == cfg.train_cfg.max_epochs, name
        # The total batch of the recipe: 64 on one GPU, or 8 x 32.
        assert meta['Batch Size'] == cfg.auto_scale_lr.base_batch_size, name
        assert meta['Batch Size'] == (256 if imagenet else 64), name


def test_parameters_are_those_of_the_built_models(entries, count_parameters):
    for name, (model, cfg) in entries.items():
        meta = metadata(model)
        if is_distiller(cfg):
            student = model_config(cfg.model.student, 'model.student')
            teacher = model_config(cfg.model.teacher, 'model.teacher')
            assert meta['Parameters'] == count_parameters(student), name
            assert meta['Teacher Parameters'] == count_parameters(
                teacher), name
        else:
            assert 'Teacher Parameters' not in meta, name
            assert meta['Parameters'] == count_parameters(cfg.model), name
    # Spot checks of the counts that docs/model_zoo.md rounds.
    assert metadata(entries['resnet20_cifar100'][0])['Parameters'] == 278324
    assert metadata(entries['unix_r34_r18_in1k'][0])['Parameters'] == 11689512


def test_teacher_and_student_name_the_entries_of_the_two_networks(entries):
    for name, (model, cfg) in entries.items():
        meta = metadata(model)
        if not is_distiller(cfg):
            assert 'Teacher' not in meta and 'Student' not in meta, name
            continue
        for role in ('teacher', 'student'):
            network = model_config(cfg.model[role], f'model.{role}')
            other = meta[role.capitalize()]
            if model.config.startswith('configs/imagenet/'):
                # mmpretrain's own model, named after its config file.
                path = cfg.model[role].cfg_path
                assert path.startswith('mmpretrain::'), name
                assert other == osp.splitext(osp.basename(path))[0], name
                continue
            other_model, other_cfg = entries[other]
            assert without_out_indices(other_cfg.model) == \
                without_out_indices(network), name
            # ... and their entries measure the same network.
            prefix = 'Teacher ' if role == 'teacher' else ''
            for key in ('FLOPs', 'Parameters'):
                assert meta[prefix + key] == metadata(other_model)[key], name


def selected_fraction(cfg: Config) -> float:
    """k/N of a distillation config: 1 for KD, the UNIX preprocessor's."""
    if 'num_selected' not in cfg.data_preprocessor:
        return 1.0
    batch = cfg.train_dataloader.batch_size
    unix = MODELS.build(cfg.data_preprocessor)
    return unix.resolve_counts(batch)[0] / batch


@pytest.mark.parametrize('backward', [1, 2])
def test_compute_ratios_follow_from_the_flops_and_k(entries, backward):
    register_all_modules()
    key = 'Compute Ratio vs KD' + ('' if backward == 1 else ' (Backward 2x)')
    ratios = {}
    for name, (model, cfg) in entries.items():
        meta = metadata(model)
        if not is_distiller(cfg):
            assert key not in meta, name
            continue
        fraction = selected_fraction(cfg)
        assert meta['Selected Fraction (k/N)'] == fraction, name
        # Per sample of a batch: UNIX scores every sample with the student,
        # then the teacher and the student's training step, with the losses'
        # trainable parts (F_c), see k/N of them.
        f_t, f_s = meta['Teacher FLOPs'], meta['FLOPs']
        distilled = f_t + (1 + backward) * (
            f_s + meta.get('Connector FLOPs', 0))
        scoring = f_s if fraction < 1 else 0
        ratios[name] = (scoring + fraction * distilled) / distilled
        assert meta[key] == round(ratios[name], 4), name
    if backward == 1:
        # docs/get_started.md quotes this one.
        assert ratios['unix_r56_r20_cifar100'] == pytest.approx(
            0.946967, abs=1e-6)
        # Exactly the configs without UNIX (KD, or another method alone, e.g.
        # dkd_*) cost what KD costs; unix_* and <method>-unix_* cost less.
        at_kd_cost = sorted(n for n, ratio in ratios.items() if ratio == 1)
        assert at_kd_cost == sorted(n for n in ratios if 'unix_' not in n)
        assert 'kd_r56_r20_cifar100' in at_kd_cost


def reported_accuracies() -> dict:
    """``{entry name: top-1}`` from the table of the authors' results in
    docs/model_zoo.md."""
    with open(osp.join(REPO_ROOT, 'docs', 'model_zoo.md')) as f:
        text = f.read()
    section = text.split('## Reference results of the paper pairs')[1]
    rows = re.findall(
        r'^\| [^|]+ \| `(\S+)_cifar100\.py` \| ([\d.–]+) / ([\d.]+) \| '
        r'([\d.]+) \| ([\d.]+) \|', section, re.M)
    assert len(rows) == 12
    accuracies = {}
    for pair, teacher, student, kd, unix in rows:
        cfg = load_config(f'configs/kd_{pair}_cifar100.py')
        for role, top1 in (('teacher', teacher), ('student', student)):
            # teachers/resnet56_cifar100.py, or models/cifar/resnet20.py
            # whose entry is vanilla/resnet20_cifar100.py
            stem = osp.splitext(osp.basename(cfg.model[role].cfg_path))[0]
            name = stem if stem.endswith('_cifar100') else f'{stem}_cifar100'
            if top1 != '–':
                known = accuracies.setdefault(name, float(top1))
                assert known == float(top1), f'two accuracies for {name}'
        accuracies[f'kd_{pair}_cifar100'] = float(kd)
        accuracies[f'unix_{pair}_cifar100'] = float(unix)
    return accuracies


def test_results_are_the_authors_and_marked_as_such(entries):
    reported = reported_accuracies()
    # 24 pairs, 5 of the 7 teachers (no resnet110 pair; vgg16's accuracy
    # is not in the README) and the 8 students alone.
    assert len(reported) == 24 + 5 + 8
    for name, (model, _) in entries.items():
        if name not in reported:
            assert model.results is None, name
            assert 'Results Source' not in model.data, name
            continue
        (result, ) = model.results
        assert (result.task, result.dataset) == ('Image Classification',
                                                 'CIFAR-100'), name
        assert result.metrics == {'Top 1 Accuracy': reported[name]}, name
        assert model.data['Results Source'] == REPORTED, name
        assert model.weights is None, name
    assert {
        'at-unix_r56_r20_cifar100', 'kd_r34_r18_in1k', 'kd_r50_mbv2_in1k',
        'resnet110_cifar100', 'sp-unix_r56_r20_cifar100', 'unix_r34_r18_in1k',
        'unix_r50_mbv2_in1k', 'vgg16_cifar100'
    } <= set(entries) - set(reported)
    assert set(reported) <= set(entries)


@pytest.mark.slow
def test_flops_and_parameters_are_fvcore_counts(entries):
    """The CIFAR networks' own entries, which the CIFAR distillation entries
    repeat (test_teacher_and_student_name_the_entries_of_the_two_networks), and
    the ImageNet pairs at 224x224."""
    register_all_modules()
    measured = {}
    for name, (model, cfg) in entries.items():
        meta = metadata(model)
        if not is_distiller(cfg):
            built = MODELS.build(cfg.model)
            measured[name] = measure_complexity(built, (3, 32, 32))
            assert measured[name] == (meta['Parameters'], meta['FLOPs'])
        elif model.config.startswith('configs/imagenet/'):
            for role, prefix in (('student', ''), ('teacher', 'Teacher ')):
                network = meta[role.capitalize()]
                if network not in measured:
                    built = MODELS.build(
                        model_config(cfg.model[role], f'model.{role}'))
                    measured[network] = measure_complexity(
                        built, (3, 224, 224))
                assert measured[network] == (meta[prefix + 'Parameters'],
                                             meta[prefix + 'FLOPs']), name
    assert len(measured) == 7 + 8 + 4
