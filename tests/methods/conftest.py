"""The tiny chain data of the training tests, for the methods' training tests."""

from tests.train.conftest import tiny_chain  # noqa: F401 (a fixture)
