"""A worker's pool processes share the cores: the classifier's inference threads per process
follow the pool's size, and the per-item model configuration keeps them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from batchsvc.engines.classify import model
from batchsvc.services.items.engines import configure_model
from batchsvc.settings import Settings


@pytest.fixture()
def default_threads() -> Iterator[None]:
    yield
    model.configure(model._options.cache_dir, model._options.quantize, threads=0)


def threads_of_the_loaded_model() -> int:
    return int(model.get_encoder().session.get_session_options().intra_op_num_threads)


@pytest.mark.usefixtures("default_threads")
def test_a_pool_of_a_process_per_core_runs_one_thread_each(sqlite_settings: Settings) -> None:
    configure_model(pool_processes=os.cpu_count() or 1)
    configure_model()  # what every classify item calls first
    assert threads_of_the_loaded_model() == 1


@pytest.mark.usefixtures("default_threads")
def test_a_single_process_keeps_every_core(sqlite_settings: Settings) -> None:
    configure_model(pool_processes=1)
    assert threads_of_the_loaded_model() == (os.cpu_count() or 1)
