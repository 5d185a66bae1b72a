"""The cleanup tests' prior and body fixtures, shared."""
from tests.server.cleanup.conftest import prior, skinning  # noqa: F401
