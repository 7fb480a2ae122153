"""The Azure ML (ARM) simulator fixtures, for the interruption tests here."""

from tests.azure.conftest import scale_file, sim  # noqa: F401  (pytest fixtures, shared)
