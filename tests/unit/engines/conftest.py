import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[2] / ".." / "shared" / "corpus"
sys.path.insert(0, str(HERE))  # for the pdfgen helper


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not available")
    return CORPUS


def read(corpus: Path, name: str) -> bytes:
    return (corpus / name).read_bytes()
