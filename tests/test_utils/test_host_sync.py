"""TensorSyncTrap finds the tensor reads that would make a GPU host wait."""
import pytest
import torch

from mmunix.utils.host_sync import (SYNCING_TENSOR_METHODS, HostSyncError,
                                    TensorSyncTrap, forbid_host_syncs)


def patched_methods() -> set:
    return set(SYNCING_TENSOR_METHODS) & set(vars(torch.Tensor))


def test_records_each_host_read_with_its_caller_and_restores_torch():
    tensor = torch.tensor([1.5, -2.0])
    with TensorSyncTrap() as trap:
        tensor.sum().item()
        bool(tensor[0] > 0)
        float(tensor[1])
        int(tensor[1])
        tensor.tolist()
        tensor.cpu()
        tensor.numpy()
        [10, 20][torch.tensor(1)]
        # Device-side work is not a host read.
        (tensor * 2)[torch.tensor([1])].sort()
    assert [call.split(' at ')[0] for call in trap.calls] == [
        'Tensor.item', 'Tensor.__bool__', 'Tensor.__float__', 'Tensor.__int__',
        'Tensor.tolist', 'Tensor.cpu', 'Tensor.numpy', 'Tensor.__index__'
    ]
    assert all(__file__ in call for call in trap.calls)
    assert patched_methods() == set()
    assert tensor.sum().item() == -0.5


def test_refusing_trap_restores_torch_before_it_raises():
    with pytest.raises(HostSyncError, match=r'Tensor\.item at .*test_host'):
        with forbid_host_syncs('cpu'):
            torch.ones(2).sum().item()
    assert patched_methods() == set()


def test_restores_torch_after_any_exception():
    with pytest.raises(KeyError):
        with TensorSyncTrap():
            raise KeyError('unrelated')
    assert patched_methods() == set()
