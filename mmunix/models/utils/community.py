"""Import CIFAR teachers from the community KD zoo.

RepDistiller, CRD, mdistiller and UNIXKD share one set of CIFAR-100 networks
(``docs/notes/community_layout.md``). mmunix's CIFAR backbones keep their
module names, so a community ``state_dict`` becomes an mmunix one by prefixing
every backbone key with ``backbone.`` and renaming the classifier to
``head.fc.``; the result is checked strictly against the target model.
"""
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

import torch
import torch.nn as nn

#: Top-level names of the final ``nn.Linear`` in the zoo: ``fc`` (ResNet,
#: WRN), ``classifier`` (VGG), ``classifier.0`` (MobileNetV2), ``linear``
#: (ShuffleNetV1/V2, ResNet50).
COMMUNITY_CLASSIFIERS = ('fc', 'classifier', 'classifier.0', 'linear')
#: Where checkpoints of the zoo keep their ``state_dict``, in lookup order;
#: without either key the checkpoint is taken to be the ``state_dict``.
STATE_DICT_KEYS = ('model', 'state_dict')
DATA_PARALLEL_PREFIX = 'module.'
#: How many keys an error message lists per kind of problem.
MAX_LISTED_KEYS = 30


def load_community_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read the ``state_dict`` of a community checkpoint, weights only.

    Checkpoints are untrusted input, so the file is read by mmunix's
    weights-only loader, which raises ``UnsafeCheckpointError`` for a pickle
    that needs anything beyond tensors and plain containers.

    Args:
        path (str): A ``torch.save``-d dict holding the ``state_dict`` under
            ``'model'`` or ``'state_dict'``, or being the ``state_dict``.

    Returns:
        dict[str, Tensor]: The ``state_dict``, keys as stored (a DataParallel
        ``module.`` prefix is left for :func:`convert_community_state_dict`).
    """
    # Imported here: mmunix.engine imports the model registry at start-up.
    from mmunix.engine import load_from_local_weights_only
    checkpoint = load_from_local_weights_only(str(path), map_location='cpu')
    return extract_state_dict(checkpoint, source=str(path))


def extract_state_dict(checkpoint: Any,
                       source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Find the ``state_dict`` in a loaded community checkpoint.

    Args:
        checkpoint (Any): What ``torch.load`` returned.
        source (str): Names the checkpoint in error messages.

    Returns:
        dict[str, Tensor]: ``checkpoint['model']``, else
        ``checkpoint['state_dict']``, else ``checkpoint`` itself.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'{source} holds a {type(checkpoint).__name__}, not '
                        'a dict with a state_dict')
    state_dict = checkpoint
    for key in STATE_DICT_KEYS:
        if key in checkpoint:
            state_dict = checkpoint[key]
            break
    if not isinstance(state_dict, Mapping) or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise TypeError(
            f'{source} has no state_dict: expected a dict of tensors under '
            f'{" or ".join(map(repr, STATE_DICT_KEYS))}, or as the '
            f'checkpoint itself; its top-level keys are '
            f'{_listed(list(checkpoint))}')
    return dict(state_dict)


def convert_community_state_dict(state_dict: Mapping[str, torch.Tensor],
                                 model: nn.Module) -> 'OrderedDict[str, Any]':
    """Rename a community ``state_dict`` for an mmunix classifier.

    Backbone keys get the prefix ``backbone.``; the classifier (one of
    :data:`COMMUNITY_CLASSIFIERS`) becomes ``head.fc``. A DataParallel
    ``module.`` prefix is dropped first. The renamed keys must match
    ``model.state_dict()`` exactly, shapes included, with one gap filled the
    way ``nn.BatchNorm2d`` fills it when loading: checkpoints saved before
    PyTorch 0.4.1 have no ``num_batches_tracked``, so it is taken from
    ``model`` (it only matters for BatchNorm with ``momentum=None``).

    Args:
        state_dict (Mapping[str, Tensor]): A community ``state_dict``, e.g.
            ``conv1.weight``, ``layer1.0.bn1.running_mean``, ``fc.weight``.
        model (nn.Module): The mmunix classifier the result is for (an
            ``ImageClassifier`` with a CIFAR backbone and a
            ``LinearClsHead``); only its ``state_dict`` is read.

    Returns:
        OrderedDict[str, Tensor]: The converted ``state_dict``, in the order
        of ``model.state_dict()``; it loads into ``model`` with
        ``strict=True``.
    """
    state_dict = {
        _strip_prefix(key, DATA_PARALLEL_PREFIX): value
        for key, value in state_dict.items()
    }
    classifier = find_classifier(state_dict)
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(classifier + '.'):
            converted['head.fc' + key[len(classifier):]] = value
        else:
            converted['backbone.' + key] = value
    return _match_model(converted, model.state_dict())


def find_classifier(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name the classifier of a community ``state_dict``.

    Args:
        state_dict (Mapping[str, Tensor]): Keys without ``module.``.

    Returns:
        str: The one entry of :data:`COMMUNITY_CLASSIFIERS` with a 2-D
        ``<name>.weight`` in ``state_dict``.
    """
    found = [
        name for name in COMMUNITY_CLASSIFIERS
        if getattr(state_dict.get(name + '.weight'), 'ndim', None) == 2
    ]
    if len(found) != 1:
        expected = ', '.join(name + '.weight'
                             for name in COMMUNITY_CLASSIFIERS)
        problem = ('has none of' if not found else
                   f'has {len(found)} classifiers ({", ".join(found)}) among')
        hint = ''
        if 'head.fc.weight' in state_dict:
            hint = ('; it has mmunix keys (head.fc.weight) already and needs '
                    'no conversion')
        raise ValueError(f'The community state_dict {problem} the classifier '
                         f'weights {expected} (as a 2-D Linear weight){hint}')
    return found[0]


def _match_model(
        converted: Dict[str, torch.Tensor],
        expected: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, Any]':
    """Order ``converted`` like ``expected`` or raise listing every misfit."""
    unexpected = [key for key in converted if key not in expected]
    absent = [key for key in expected if key not in converted]
    missing = [k for k in absent if not k.endswith('.num_batches_tracked')]
    mismatched = [
        f'{key}: checkpoint {tuple(value.shape)} vs model '
        f'{tuple(expected[key].shape)}' for key, value in converted.items()
        if key in expected and value.shape != expected[key].shape
    ]
    problems = []
    for title, keys in (('unexpected keys', unexpected),
                        ('missing keys', missing), ('shape mismatches',
                                                    mismatched)):
        if keys:
            problems.append(f'{title} ({len(keys)}): {_listed(keys)}')
    if problems:
        raise ValueError(
            'The converted checkpoint does not match the model '
            "(is the config the checkpoint's architecture?):\n  " +
            '\n  '.join(problems))
    return OrderedDict(
        (key, converted[key] if key in converted else expected[key].clone())
        for key in expected)


def _strip_prefix(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def _listed(keys: List[str]) -> str:
    shown = ', '.join(map(str, keys[:MAX_LISTED_KEYS]))
    more = len(keys) - MAX_LISTED_KEYS
    return shown + (f', ... ({more} more)' if more > 0 else '')
