"""The local servers by name (``--backend``): each name gives its launcher, unstarted."""

from __future__ import annotations

import pytest

from aiodynamo_patterns.local.backends import BACKENDS, local_server
from aiodynamo_patterns.local.dynalite import Dynalite
from aiodynamo_patterns.local.dynamodb_local import DynamoDBLocal
from aiodynamo_patterns.local.moto import EmbeddedDynamo


def test_each_backend_name_gives_its_launcher_unstarted() -> None:
    """moto is the default (first) name; nothing starts until the server is entered."""
    servers = [local_server(name) for name in BACKENDS]

    assert BACKENDS[0] == "moto"
    assert [type(s) for s in servers] == [EmbeddedDynamo, Dynalite, DynamoDBLocal]


def test_an_unknown_backend_is_refused_naming_the_choices() -> None:
    """A name that is no backend is a ValueError listing the three accepted names."""
    with pytest.raises(ValueError, match="moto, dynalite, dynamodb-local"):
        local_server("localstack")
