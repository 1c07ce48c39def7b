"""One device policy: auto is the GPU when there is one, a GPU asked for must be there."""

import pytest
import torch

from pipeline.devices import ALONE, DeviceError, join_processes, resolve_device


def test_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_that_is_not_there_is_an_error_naming_the_setting():
    with pytest.raises(DeviceError, match="train.device is cuda:0 but no GPU is visible"):
        resolve_device("cuda:0", "train.device")


def test_a_name_torch_does_not_know_is_an_error():
    with pytest.raises(DeviceError, match="evaluate.device must be auto, cpu, cuda or cuda:N"):
        resolve_device("tpu", "evaluate.device")


def test_outside_torchrun_a_process_is_alone(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rank, device, owns = join_processes(torch.device("cpu"))
    assert (rank, device, owns) == (ALONE, torch.device("cpu"), False) and rank.main
