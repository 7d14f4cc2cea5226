"""Python bindings of the paas SDK.

The bindings are young: for now they expose the SDK version, which proves the build and import
path. The platform API follows in its own issue.
"""

from paas._paas import version

__all__ = ["version"]
