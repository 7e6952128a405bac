"""The version the service reports (OpenAPI, ``/v1/info``): the installed ``hotline`` distribution's.

Read from the package metadata, not from the CLI package: nothing imports ``hotline``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def service_version() -> str:
    try:
        return version("hotline")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"
