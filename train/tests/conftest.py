import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from train.common import set_threads

set_threads()  # 1 thread unless X2E_THREADS says otherwise (2-core machines shared with Rust builds)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
MODELS = os.path.join(FIXTURES, "models")


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def models_dir():
    return MODELS


@pytest.fixture(scope="session")
def tiny_cfg():
    from train.configs import tiny_config
    from train.models import text_config_from_dir
    return text_config_from_dir(MODELS, tiny_config())


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    set_threads()  # a test (e.g. the re-export) may have changed it
