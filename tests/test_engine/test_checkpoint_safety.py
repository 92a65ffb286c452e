"""Resuming keeps ``weights_only=True`` and refuses code-running pickles."""
import os
import pickle

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
    assert not any(name.startswith(('builtins.', 'os.', 'posix.'))
                   for name in names)


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
        pickle.dump({'state_dict': {}, 'payload': RunsShellOnLoad(marker)},
                    f, protocol=2)
    # torch.save's zip format takes the same route.
    torch.save({'payload': RunsShellOnLoad(marker)}, tmp_path / 'zip.pth')

    model = torch.nn.Linear(2, 2)
    for candidate in (path, tmp_path / 'zip.pth'):
        with pytest.raises(UnsafeCheckpointError,
                           match=r'Refused to load .*system'):
            load_checkpoint(model, str(candidate))
    assert not marker.exists()


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_from_local_weights_only(str(tmp_path / 'nope.pth'))


@pytest.mark.parametrize('content, reason', [
    (b'', 'EOFError'),
    (b'hello world\n', 'KeyError'),
    ('truncated', 'failed reading zip archive'),
])
def test_a_file_that_is_no_checkpoint_is_named_in_the_error(
        tmp_path, content, reason):
    path = tmp_path / 'teacher.pth'
    if content == 'truncated':
        torch.save({'w': torch.ones(64)}, path)
        content = path.read_bytes()[:100]
    path.write_bytes(content)
    with pytest.raises(UnreadableCheckpointError,
                       match=rf'{path} is not a readable torch checkpoint '
                       rf'.*{reason}'):
        load_from_local_weights_only(str(path))


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

    with pytest.raises(UnsafeCheckpointError,
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
        {'state_dict': {prefix + k: v
                        for k, v in model.state_dict().items()}},
        folder / 'good.pth')
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
