"""Shared settings of the analysis tests."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a test of a few tens of seconds (e.g. UMAP's numba compilation); "
        "deselect with -m 'not slow'")
