"""Resuming keeps ``weights_only=True`` and refuses code-running pickles;
damaged files are told from malicious ones."""
import contextlib
import copyreg
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader, load_checkpoint

from mmunix.engine import (UnreadableCheckpointError, UnsafeCheckpointError,
                           load_from_local_weights_only,
                           load_from_model_zoo_weights_only,
                           mmengine_checkpoint_globals)
from mmunix.engine.checkpoint_safety import MODEL_ZOO_SCHEMES


class RunsShellOnLoad:
    """Unpickling this calls ``os.system``: what an attacker would ship."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_local_checkpoints_go_through_the_weights_only_loader():
    assert CheckpointLoader._get_checkpoint_loader('/x/epoch_1.pth') is \
        load_from_local_weights_only


def test_allow_list_is_exactly_the_mmengine_checkpoint_types():
    names = sorted(f'{g.__module__}.{g.__name__}'
                   for g in mmengine_checkpoint_globals())
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert len(names) == 10
    assert not any(
        name.startswith(('builtins.', 'os.', 'posix.')) for name in names)


def test_message_hub_round_trips_under_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_checkpoint_safety')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', 7)
    path = tmp_path / 'ckpt.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'iter': 7}}, path)

    assert 'builtins.getattr' not in \
        torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(1.0)
    assert buffer.current() == pytest.approx(0.5)


def test_code_running_checkpoint_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'malicious.pth'
    with open(path, 'wb') as f:
        pickle.dump({
            'state_dict': {},
            'payload': RunsShellOnLoad(marker)
        },
                    f,
                    protocol=2)
    # torch.save's zip format takes the same route.
    torch.save({'payload': RunsShellOnLoad(marker)}, tmp_path / 'zip.pth')

    model = torch.nn.Linear(2, 2)
    for candidate in (path, tmp_path / 'zip.pth'):
        with pytest.raises(
                UnsafeCheckpointError, match=r'Refused to load .*system'):
            load_checkpoint(model, str(candidate))
    assert not marker.exists()


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_from_local_weights_only(str(tmp_path / 'nope.pth'))


def test_a_directory_is_named_as_a_directory(tmp_path):
    with pytest.raises(
            UnreadableCheckpointError,
            match=f'{tmp_path} is a directory; a checkpoint file '
            'is expected'):
        load_from_local_weights_only(str(tmp_path))


def saved_bytes(checkpoint) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def flip_a_tensor_byte(data: bytes) -> bytes:
    """``data`` with one byte of the first tensor's storage changed, as a bad
    disk or transfer would."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist()
                    if i.filename.endswith('/data/0'))
    # Stored uncompressed: the member's bytes follow its 30-byte local
    # header, file name and extra field (torch pads the latter, so its
    # length is read from the local header).
    name_length, extra_length = struct.unpack_from('<HH', data,
                                                   info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    return data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1:]


CHECKPOINT = {'state_dict': {'w': torch.ones(64)}}


@pytest.mark.parametrize('damage, reason', [
    (lambda data: b'', 'the file is empty'),
    (lambda data: b'hello world\n',
     r'the file \(not a zip archive\) is not a valid pickle'),
    (lambda data: data[:100],
     r'the zip archive has no end \(central directory\): it is truncated'),
    (flip_a_tensor_byte, 'zip member .*/data/0 fails its CRC check'),
])
def test_damaged_bytes_are_called_damaged_not_unsafe(tmp_path, damage, reason):
    path = tmp_path / 'teacher.pth'
    path.write_bytes(damage(saved_bytes(CHECKPOINT)))
    with pytest.raises(
            UnreadableCheckpointError,
            match=rf'^{path} is not a readable torch checkpoint '
            rf'\(damaged, or not a checkpoint at all\): {reason}'):
        load_from_local_weights_only(str(path))


def test_random_bytes_are_damaged_not_unsafe(tmp_path):
    path = tmp_path / 'random.pth'
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(
            UnreadableCheckpointError,
            match='is not a readable torch checkpoint'):
        load_from_local_weights_only(str(path))


@contextlib.contextmanager
def pickled_like_plain_mmengine():
    """Pickle ``HistoryBuffer`` as MMEngine does when mmunix is not
    imported: with its ``statistics_methods``, which protocol 2 writes as
    ``getattr(HistoryBuffer, 'min')`` and so on."""
    reducer = copyreg.dispatch_table.pop(HistoryBuffer)
    try:
        yield
    finally:
        copyreg.dispatch_table[HistoryBuffer] = reducer


def hub_checkpoint(name: str) -> dict:
    hub = MessageHub.get_instance(name)
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    return {'message_hub': hub.state_dict(), 'meta': {'iter': 2}}


def test_a_checkpoint_of_plain_mmengine_loads(tmp_path):
    path = tmp_path / 'mmengine.pth'
    with pickled_like_plain_mmengine():
        torch.save(hub_checkpoint('plain_mmengine'), path)
    with zipfile.ZipFile(path) as archive:
        pickled = archive.read('mmengine/data.pkl')
    assert b'getattr' in pickled

    loaded = load_from_local_weights_only(str(path))

    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == pytest.approx(1.0)
    assert buffer.current() == pytest.approx(0.5)


class ReachesForInit:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: the first step from
    an allowed class towards ``__globals__`` and ``eval``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_for_anything_but_a_statistic_is_refused(tmp_path):
    path = tmp_path / 'crafted.pth'
    torch.save({'state_dict': {}, 'x': ReachesForInit()}, path)
    with pytest.raises(
            UnsafeCheckpointError,
            match=r'Refused to load .*getattr\(HistoryBuffer, '
            r"'__init__'\) is refused"):
        load_from_local_weights_only(str(path))


def test_a_checkpoint_that_swaps_a_statistic_is_refused(tmp_path):
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    # Every logged mean of the loading process would be the last value.
    buffer._statistics_methods = {'mean': HistoryBuffer.current}
    path = tmp_path / 'swapped.pth'
    with pickled_like_plain_mmengine():
        torch.save({'message_hub': {'log_scalars': {'loss': buffer}}}, path)

    with pytest.raises(
            UnsafeCheckpointError,
            match=r'it changes the HistoryBuffer statistics '
            r"'mean'"):
        load_from_local_weights_only(str(path))
    assert HistoryBuffer([1.0, 2.0], [1, 1]).mean() == pytest.approx(1.5)


@pytest.fixture
def http_folder(tmp_path, monkeypatch):
    """Serve ``tmp_path/served`` over HTTP on localhost; torch's hub cache in
    ``tmp_path/hub``."""
    import functools
    import http.server
    import threading

    folder = tmp_path / 'served'
    folder.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_model_zoo_urls_load_weights_only_too(http_folder, tmp_path):
    folder, base = http_folder
    model = torch.nn.Linear(2, 2)
    torch.save({'state_dict': model.state_dict()}, folder / 'good.pth')
    marker = tmp_path / 'pwned'
    torch.save({'payload': RunsShellOnLoad(marker)}, folder / 'bad.pth')

    other = torch.nn.Linear(2, 2)
    load_checkpoint(other, f'{base}/good.pth')
    assert torch.equal(other.weight, model.weight)

    with pytest.raises(
            UnsafeCheckpointError,
            match=r'Refused to load http://.*bad\.pth.*system'):
        load_checkpoint(other, f'{base}/bad.pth')
    assert not marker.exists()


@pytest.mark.parametrize('scheme', sorted(MODEL_ZOO_SCHEMES))
def test_model_zoo_schemes_load_weights_only(scheme, http_folder, tmp_path,
                                             monkeypatch):
    # MMEngine's own loaders for these schemes download with
    # weights_only=False; point the scheme's name table at the local server.
    folder, base = http_folder
    model = torch.nn.Linear(2, 2)
    # mmcls:// keeps the backbone of an mmcls classifier, as MMEngine does.
    prefix = 'backbone.' if scheme == 'mmcls://' else ''
    torch.save(
        {'state_dict': {
            prefix + k: v
            for k, v in model.state_dict().items()
        }}, folder / 'good.pth')
    marker = tmp_path / 'pwned'
    torch.save({'payload': RunsShellOnLoad(marker)}, folder / 'bad.pth')
    monkeypatch.setitem(
        MODEL_ZOO_SCHEMES, scheme,
        lambda: dict(good=f'{base}/good.pth', bad=f'{base}/bad.pth'))

    assert CheckpointLoader._get_checkpoint_loader(f'{scheme}good') is \
        load_from_model_zoo_weights_only
    other = torch.nn.Linear(2, 2)
    load_checkpoint(other, f'{scheme}good')
    assert torch.equal(other.weight, model.weight)
    with pytest.raises(UnsafeCheckpointError, match=r'bad\.pth.*system'):
        load_checkpoint(other, f'{scheme}bad')
    assert not marker.exists()
    with pytest.raises(KeyError, match=f"no {scheme} model named 'nope'"):
        load_checkpoint(other, f'{scheme}nope')


def test_open_mmlab_paths_are_read_from_mmengine_home(tmp_path, monkeypatch):
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path))
    monkeypatch.setitem(MODEL_ZOO_SCHEMES, 'open-mmlab://',
                        lambda: dict(local='weights/bad.pth'))
    (tmp_path / 'weights').mkdir()
    marker = tmp_path / 'pwned'
    torch.save({'payload': RunsShellOnLoad(marker)},
               tmp_path / 'weights' / 'bad.pth')
    with pytest.raises(UnsafeCheckpointError, match=r'weights/bad\.pth'):
        load_from_model_zoo_weights_only('open-mmlab://local')
    assert not marker.exists()
