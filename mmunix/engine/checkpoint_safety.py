"""Resume MMEngine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
every global that is not allow-listed. MMEngine 0.10.7 calls ``torch.load``
without the argument, so ``--resume`` fails on what the message hub saves:
``HistoryBuffer`` objects holding NumPy arrays and scalars.

Checkpoints are untrusted input (a pickle can run any code), so we never turn
``weights_only`` off. Three changes, all made once on import of
``mmunix.engine``, are enough:

1. Allow-list exactly the globals of an MMEngine checkpoint besides tensors
   (:func:`mmengine_checkpoint_globals`).
2. Read the one ``getattr`` that plain MMEngine writes. It saves each
   ``HistoryBuffer`` with its ``statistics_methods``, and pickle protocol 2
   writes a function nested in a class as ``getattr(HistoryBuffer, 'min')``.
   The real ``getattr`` would let a crafted checkpoint walk from any allowed
   object to ``eval``, so ``builtins.getattr`` is served by
   :func:`history_buffer_statistic`, which only names MMEngine's built-in
   statistics. The loaders also refuse a checkpoint that changes the
   class-wide table of statistics those buffers merge into on loading.
3. Pickle ``HistoryBuffer`` without its ``statistics_methods``, so that
   checkpoints written by mmunix need no ``getattr`` at all. The dict is
   redundant: the built-in statistics are set by ``HistoryBuffer.__init__``
   and custom ones by their registration at import.

Local and ``http(s)://`` checkpoints are read by
:func:`load_from_local_weights_only` and :func:`load_from_http_weights_only`,
which ask for ``weights_only=True`` explicitly (whatever torch's default).
They tell a damaged file from a malicious one, which torch reports alike:
a file that is not a well-formed torch file (empty, truncated, a zip member
failing its CRC, bytes that are no pickle) raises
:class:`UnreadableCheckpointError`; a well-formed pickle that asks for an
object outside the allow-list, e.g. ``os.system``, is refused before it runs
with :class:`UnsafeCheckpointError`. MMEngine's model-zoo schemes
(``torchvision://``, ``open-mmlab://``, ``mmcls://``) download through a
loader that does not ask for it; :func:`load_from_model_zoo_weights_only`
resolves their names with MMEngine's tables and reads them with the two
loaders above.
"""
import contextlib
import copyreg
import functools
import io
import mmap
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import Optional
from urllib.parse import urlparse

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

    ``ndarray``, ``dtype`` and ``_reconstruct`` rebuild an array; ``scalar`` a
    NumPy scalar such as ``np.float64``; and NumPy 2 rebuilds dtypes as their
    concrete classes (``Float64DType``...), allowed here for the integer and
    floating-point types only.
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

    ``HistoryBuffer``, the message hub's logged scalars, and the NumPy arrays
    and scalars of their histories and of ``runtime_info``
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


def _builtin_statistics() -> dict:
    """MMEngine's built-in statistics, name -> function, as its own
    ``_set_default_statistics`` lists them (so a new MMEngine that adds one is
    followed), collected on a probe rather than the class-wide table."""
    probe = HistoryBuffer.__new__(HistoryBuffer)
    probe._statistics_methods = {}
    probe._set_default_statistics()
    return probe._statistics_methods


#: What :func:`history_buffer_statistic` may return.
BUILTIN_STATISTICS = _builtin_statistics()


def history_buffer_statistic(owner, name):
    """``getattr`` for unpickling: only ``getattr(HistoryBuffer, STAT)``.

    Registered as ``builtins.getattr`` for ``torch.load(weights_only=True)``.
    Plain MMEngine pickles each ``HistoryBuffer`` with its built-in statistics
    (``min``, ``max``, ``current``, ``mean``), which protocol 2 writes as
    ``getattr(HistoryBuffer, 'min')``. Any other use, e.g.
    ``getattr(HistoryBuffer, '__init__')`` on the way to ``eval``, is refused
    before any attribute is looked up.
    """
    # `is` and `type(...) is` call nothing the pickle could have supplied.
    if (owner is HistoryBuffer and type(name) is str
            and name in BUILTIN_STATISTICS):
        return BUILTIN_STATISTICS[name]
    owner_name = (
        owner.__name__ if isinstance(owner, type) else type(owner).__name__)
    raise pickle.UnpicklingError(
        f'getattr({owner_name}, {name!r}) is refused: a checkpoint may use '
        'getattr only to name a built-in HistoryBuffer statistic '
        f'({", ".join(sorted(BUILTIN_STATISTICS))}).')


@contextlib.contextmanager
def _statistics_unchanged(source: str):
    """Refuse a checkpoint that changes HistoryBuffer's statistics.

    ``HistoryBuffer.__setstate__`` merges the ``statistics_methods`` saved with
    each buffer into the class-wide table, which every logged scalar of this
    process uses. MMEngine saves the built-in ones, which change nothing; a
    crafted checkpoint could swap ``mean`` for ``current`` and every logged
    mean would silently be wrong. The table is restored.
    """
    # Fills in the built-in statistics, as loading the first buffer would.
    HistoryBuffer.__new__(HistoryBuffer)._set_default_statistics()
    table = HistoryBuffer._statistics_methods
    before = dict(table)
    try:
        yield
    finally:
        changed = sorted(
            repr(name) for name in table.keys() | before.keys()
            if table.get(name) is not before.get(name))
        if changed:
            table.clear()
            table.update(before)
    if changed:
        raise UnsafeCheckpointError(
            f'Refused to load {source}: it changes the HistoryBuffer '
            f'statistics {", ".join(changed)}, which every logged scalar '
            'uses; MMEngine checkpoints only repeat the built-in ones.')


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


def _unreadable(source: str, detail: str) -> UnreadableCheckpointError:
    return UnreadableCheckpointError(
        f'{source} is not a readable torch checkpoint (damaged, or not a '
        f'checkpoint at all): {detail}.')


#: How ``torch.load`` tells its zip format from the legacy one.
ZIP_MAGIC = b'PK\x03\x04'
#: The legacy (non-zip) format starts with five pickles: magic number,
#: protocol version, system info, the object, and its storage keys.
LEGACY_PICKLES = 5


class _Discard:
    """A sink for ``pickletools.dis``, which checks while it prints."""

    def write(self, text):
        pass


def _pickles_damage(stream, size: int, count: int, name: str) -> Optional[str]:
    """What is wrong with the first ``count`` pickles of ``stream``.

    ``pickletools.dis`` decodes opcodes and checks the stack and memo without
    creating any object, so nothing in the pickle runs. A second pickle may be
    missing: a lone pickle is no torch file, but one asking for ``os.system``
    must still be refused as unsafe, not as damaged.
    """
    for index in range(count):
        if index and stream.tell() >= size:
            return None
        try:
            pickletools.dis(stream, out=_Discard())
        except ValueError as error:  # UnicodeDecodeError included
            where = f'{name} is not a valid pickle' if index == 0 else (
                f'{name} breaks off in its pickle {index + 1} of {count}')
            return f'{where} ({error})'
    return None


def _zip_damage(file) -> Optional[str]:
    try:
        with zipfile.ZipFile(file) as archive:
            # torch does not check CRCs, so a flipped bit in a tensor would
            # load as a wrong weight.
            corrupt = archive.testzip()
            if corrupt is not None:
                return f'zip member {corrupt} fails its CRC check'
            pickles = [
                name for name in archive.namelist()
                if name.rpartition('/')[2] == 'data.pkl'
            ]
            if not pickles:
                return 'a zip archive without data.pkl'
            data = archive.read(pickles[0])
    except (zipfile.BadZipFile, EOFError) as error:
        if str(error) == 'File is not a zip file':
            return ('the zip archive has no end (central directory): it is '
                    'truncated')
        return f'the zip archive is corrupt ({error})'
    return _pickles_damage(io.BytesIO(data), len(data), 1, pickles[0])


def _damage(path: str) -> Optional[str]:
    """Why ``path`` is not a well-formed torch file, or None.

    Torch reports bytes that are no pickle as a refused pickle
    (``UnpicklingError``), the same as a malicious one; this tells them apart
    without unpickling anything.
    """
    with open(path, 'rb') as file:
        head = file.read(len(ZIP_MAGIC))
        if not head:
            return 'the file is empty'
        file.seek(0)
        if head == ZIP_MAGIC:
            return _zip_damage(file)
        # mmap bounds the reads of a length field that lies.
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _pickles_damage(data, len(data), LEGACY_PICKLES,
                                   'the file (not a zip archive)')


def _first_line(error: Exception) -> str:
    text = str(error).strip().split('\n')[0]
    return f'{type(error).__name__}: {text}' if text else \
        type(error).__name__


def _load_weights_only(path: str, source: str, load):
    """Return ``load()``, a weights-only ``torch.load`` of ``path``, with its
    failures explained in errors that name ``source``."""
    with _statistics_unchanged(source):
        try:
            return load()
        except (pickle.UnpicklingError, EOFError, KeyError, IndexError,
                RuntimeError) as error:
            failure = error
    # Outside the except clause, so that torch's long message is not chained.
    damage = _damage(path) if osp.isfile(path) else None
    if damage is not None:
        raise _unreadable(source, damage)
    if isinstance(failure, pickle.UnpicklingError):
        raise _refuse(source, failure)
    # A well-formed file that torch still cannot read, e.g. a pickle that
    # is no torch file or legacy tensor data that breaks off.
    raise _unreadable(
        source, f'torch.load failed: {_first_line(failure)}') from failure


def load_from_local_weights_only(filename: str, map_location=None):
    """Load a local checkpoint with ``torch.load(weights_only=True)``.

    Registered as MMEngine's loader for local paths, so ``load_from``,
    ``--resume``, ``tools/test.py`` and ``load_checkpoint`` all use it.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnreadableCheckpointError: ``filename`` is a directory, or a file
            that is not a torch checkpoint (empty, truncated, corrupt).
        UnsafeCheckpointError: the pickle needs a global that is not
            allow-listed.
    """
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise UnreadableCheckpointError(
            f'{filename} is a directory; a checkpoint file is expected '
            '(e.g. one of the .pth files in it).')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    # Checked first, as a CRC error would otherwise load without an error.
    damage = _damage(filename)
    if damage is not None:
        raise _unreadable(filename, damage)
    return _load_weights_only(
        filename, filename,
        functools.partial(
            torch.load, filename, map_location=map_location,
            weights_only=True))


def load_from_http_weights_only(url: str, map_location=None):
    """Download a checkpoint into torch's hub cache and load it weights-only.

    Registered for ``http://`` and ``https://``: MMEngine's own loader goes
    through ``torch.hub.load_state_dict_from_url``, whose ``weights_only``
    defaults to False, so a model-zoo URL such as a ``teacher_ckpt`` could
    otherwise run code. Under DDP the first process downloads while the others
    wait, as MMEngine does. Errors name the URL and the cached file, which
    stays behind when it is damaged or refused.
    """
    rank, world_size = get_dist_info()
    # torch.hub's own default place, given explicitly so errors can name it.
    model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))

    def fetch():
        return _load_weights_only(
            cached, f'{url} (downloaded to {cached})',
            functools.partial(
                torch.hub.load_state_dict_from_url,
                url,
                model_dir=model_dir,
                map_location=map_location,
                progress=False,
                weights_only=True))

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
    torch.serialization.add_safe_globals([
        *mmengine_checkpoint_globals(),
        (history_buffer_statistic, 'builtins.getattr')
    ])
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
