"""Test-wide settings: one torch thread. The test models are tiny, and on a busy 2-core
machine two OpenMP threads spin-wait against other processes (measured: up to 20x slower).

`make test` runs the suite in TEST_WORKERS pytest-xdist processes. A test file's tests stay
in one process, so its module fixtures are built once, and the two files that read the tiny
book (the session fixture ``tiny_book``) share one process, so the book is built once."""
import pytest
import torch

torch.set_num_threads(1)

BOOK_FILES = ("tests/integration/test_book.py", "tests/integration/test_browser.py")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: ignored when it is not installed
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class BookFilesTogether(LoadFileScheduling):
        """``--dist loadfile``, with the tiny book's files as one unit (xdist's own
        ``loadgroup`` did not group marked tests with pytest 9.2 and xdist 3.8)."""

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "tiny_book" if scope in BOOK_FILES else scope

    return BookFilesTogether(config, log)


def pytest_collection_modifyitems(config, items):
    """Test tiers: every test under ``tests/integration`` is marked ``slow`` (runs notebooks,
    trains, builds the book or starts servers), so ``make test-fast`` (``-m "not slow"``) is
    the unit tier; an unmarked integration test is an error, not a slow fast tier."""
    unmarked = [i.nodeid for i in items if "tests/integration/" in i.nodeid.replace("\\", "/")
                and i.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("integration tests must be marked slow (pytestmark = pytest.mark.slow): "
                                + ", ".join(unmarked[:5]))
