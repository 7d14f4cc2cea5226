import re

import paas


def test_version_matches_the_crate():
    # The version comes from the Rust crate: a semver string, not a placeholder.
    assert re.fullmatch(r"\d+\.\d+\.\d+", paas.version())
