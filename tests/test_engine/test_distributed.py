"""The process group that tools/train.py and tools/test.py run inside."""
from datetime import timedelta

import pytest
import torch
import torch.distributed as torch_dist
from conftest import free_port

from mmunix.engine import distributed_session


@pytest.fixture
def torchrun_env(monkeypatch):
    """The environment torchrun gives the only process of a one-process job."""
    for key, value in dict(
            RANK='0',
            LOCAL_RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_session_starts_gloo_and_destroys_the_group_after_success(
        torchrun_env):
    with distributed_session('pytorch'):
        assert torch_dist.is_initialized()
        assert torch_dist.get_backend() == 'gloo'
        assert torch_dist.get_world_size() == 1
    assert not torch_dist.is_initialized()


def test_dist_cfg_timeout_reaches_the_gloo_group(torchrun_env):
    # The Runner skips its own init_dist(**dist_cfg) once the group exists,
    # so the timeout must be applied here.
    with distributed_session('pytorch', dict(backend='nccl', timeout=123)):
        group = torch_dist.distributed_c10d._get_default_group()
        backend = group._get_backend(torch.device('cpu'))
        assert backend.options._timeout == timedelta(seconds=123)


def test_session_leaves_the_group_alone_after_a_failure(torchrun_env):
    # Other ranks may still wait in a collective: destroying the group here
    # could hang them, so torchrun is left to end the job.
    with pytest.raises(ValueError, match='boom'):
        with distributed_session('pytorch'):
            raise ValueError('boom')
    assert torch_dist.is_initialized()


def test_session_without_a_launcher_starts_nothing():
    with distributed_session('none'):
        assert not torch_dist.is_initialized()
    assert not torch_dist.is_initialized()
