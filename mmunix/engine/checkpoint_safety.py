"""Resume MMEngine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
every global that is not allow-listed. MMEngine 0.10.7 calls ``torch.load``
without the argument, so ``--resume`` fails on what the message hub saves:
``HistoryBuffer`` objects holding NumPy arrays and scalars.

Checkpoints are untrusted input (a pickle can run any code), so we never turn
``weights_only`` off. Two changes, both made once on import of
``mmunix.engine``, are enough:

1. Allow-list exactly the globals of an MMEngine checkpoint besides tensors
   (:func:`mmengine_checkpoint_globals`).
2. Pickle ``HistoryBuffer`` without its ``statistics_methods``. MMEngine saves
   that dict of functions, and pickle protocol 2 writes a function nested in
   a class as ``getattr(HistoryBuffer, 'min')``. Allowing ``getattr`` would
   let a crafted checkpoint walk from any allowed object to ``eval``. The dict
   is redundant anyway: the built-in statistics are set by
   ``HistoryBuffer.__init__`` and custom ones by their registration at import.

Local and ``http(s)://`` checkpoints are read by
:func:`load_from_local_weights_only` and :func:`load_from_http_weights_only`,
which ask for ``weights_only=True`` explicitly (whatever torch's default) and
turn a refused pickle into :class:`UnsafeCheckpointError`, which says what
happened. MMEngine's model-zoo schemes (``torchvision://``,
``open-mmlab://``, ``mmcls://``) download through a loader that does not ask
for it; :func:`load_from_model_zoo_weights_only` resolves their names with
MMEngine's tables and reads them with the two loaders above. Anything outside the allow-list, e.g. a pickle that calls
``os.system``, is refused before it runs.
"""
import copyreg
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import (_get_mmengine_home,
                                        _process_mmcls_checkpoint,
                                        get_deprecated_model_names,
                                        get_external_models, get_mmcls_models,
                                        get_torchvision_models)


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects that could run code when unpickled."""


class UnreadableCheckpointError(ValueError):
    """A file is not a torch checkpoint: truncated, corrupt, or not one."""


def _numpy_multiarray():
    try:  # NumPy >= 2
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    return multiarray


def numpy_array_globals() -> list:
    """The globals a pickled NumPy array or scalar needs.

    ``ndarray``, ``dtype`` and ``_reconstruct`` rebuild an array; ``scalar``
    a NumPy scalar such as ``np.float64``; and NumPy 2 rebuilds dtypes as
    their concrete classes (``Float64DType``...), allowed here for the
    integer and floating-point types only.
    """
    multiarray = _numpy_multiarray()
    dtype_classes = [
        type(np.dtype(name))
        for name in ('float16', 'float32', 'float64', 'int32', 'int64')
    ]
    return [
        np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
        *dtype_classes
    ]


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals in an MMEngine training checkpoint.

    ``HistoryBuffer``, the message hub's logged scalars, and the NumPy
    arrays and scalars of their histories and of ``runtime_info``
    (:func:`numpy_array_globals`).
    """
    return [HistoryBuffer, *numpy_array_globals()]


def _reduce_history_buffer(buffer: HistoryBuffer):
    state = {
        key: value
        for key, value in buffer.__dict__.items()
        if key != 'statistics_methods'
    }
    return copyreg.__newobj__, (HistoryBuffer, ), state


def _reason(error: Exception) -> str:
    """The sentence of torch's long weights-only error that names the cause."""
    paragraphs = [p.strip() for p in str(error).split('\n\n') if p.strip()]
    causes = [
        p for p in paragraphs[1:]
        if not p.startswith(('Check the documentation', 'Please file'))
    ]
    cause = (causes or paragraphs or ['unknown'])[0]
    # Drop torch's advice on allow-listing the global: not for untrusted files.
    cause = cause.split('WeightsUnpickler error:')[-1].split(' Please use')[0]
    return cause.strip()


def _refuse(source: str, error: Exception) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'Refused to load {source}: its pickle asks for an object that is '
        'not allow-listed, and unpickling it could run arbitrary code. '
        'mmunix loads checkpoints with torch.load(weights_only=True), which '
        'allows tensors, plain containers and the few MMEngine/NumPy types '
        f'of a training checkpoint. Reason: {_reason(error)} If you trust '
        'this file, re-save its state_dict in a trusted environment '
        '(torch.save({"state_dict": sd}, path)).')


def load_from_local_weights_only(filename: str, map_location=None):
    """Load a local checkpoint with ``torch.load(weights_only=True)``.

    Registered as MMEngine's loader for local paths, so ``load_from``,
    ``--resume``, ``tools/test.py`` and ``load_checkpoint`` all use it.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the pickle needs a global that is not
            allow-listed.
        UnreadableCheckpointError: the file is not a torch checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise _refuse(filename, error) from None
    except (EOFError, KeyError, RuntimeError) as error:
        # What torch.load raises for an empty, a non-torch or a truncated
        # file: EOFError, KeyError: 101, and a zip-reader RuntimeError.
        raise UnreadableCheckpointError(
            f'{filename} is not a readable torch checkpoint (empty, '
            f'truncated, or another format): {type(error).__name__}: '
            f'{error}') from error


def load_from_http_weights_only(url: str, map_location=None):
    """Download a checkpoint into torch's hub cache and load it weights-only.

    Registered for ``http://`` and ``https://``: MMEngine's own loader goes
    through ``torch.hub.load_state_dict_from_url``, whose ``weights_only``
    defaults to False, so a model-zoo URL such as a ``teacher_ckpt`` could
    otherwise run code. Under DDP the first process downloads while the
    others wait, as MMEngine does.
    """
    rank, world_size = get_dist_info()

    def fetch():
        try:
            return torch.hub.load_state_dict_from_url(
                url,
                map_location=map_location,
                progress=False,
                weights_only=True)
        except pickle.UnpicklingError as error:
            raise _refuse(url, error) from None

    checkpoint = fetch() if rank == 0 else None
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = fetch()
    return checkpoint


#: MMEngine's model-zoo schemes, each with its table of names -> URLs.
MODEL_ZOO_SCHEMES = {
    'torchvision://': get_torchvision_models,
    'modelzoo://': get_torchvision_models,
    'open-mmlab://': get_external_models,
    'openmmlab://': get_external_models,
    'mmcls://': get_mmcls_models,
}


def load_from_model_zoo_weights_only(filename: str, map_location=None):
    """Load ``torchvision://NAME``, ``open-mmlab://NAME`` or ``mmcls://NAME``
    weights-only.

    The name is looked up in MMEngine's table for the scheme (deprecated
    open-mmlab names are renamed, as MMEngine does). A URL goes to
    :func:`load_from_http_weights_only`; a path is taken relative to
    ``$MMENGINE_HOME`` and goes to :func:`load_from_local_weights_only`.

    Raises:
        KeyError: The table has no such name.
    """
    prefix = next(p for p in MODEL_ZOO_SCHEMES if filename.startswith(p))
    name = filename[len(prefix):]
    if prefix in ('open-mmlab://', 'openmmlab://'):
        name = get_deprecated_model_names().get(name, name)
    urls = MODEL_ZOO_SCHEMES[prefix]()
    if name not in urls:
        raise KeyError(f'{filename}: MMEngine knows no {prefix} model named '
                       f'{name!r}')
    url = urls[name]
    if url.startswith(('http://', 'https://')):
        checkpoint = load_from_http_weights_only(url, map_location)
    else:
        checkpoint = load_from_local_weights_only(
            osp.join(_get_mmengine_home(), url), map_location)
    if prefix == 'mmcls://':
        checkpoint = _process_mmcls_checkpoint(checkpoint)
    return checkpoint


def allow_mmengine_checkpoints() -> None:
    """Make MMEngine checkpoints save and load under ``weights_only=True``."""
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_from_http_weights_only,
        force=True)
    CheckpointLoader.register_scheme(
        prefixes=tuple(MODEL_ZOO_SCHEMES),
        loader=load_from_model_zoo_weights_only,
        force=True)
