"""Backends written against fanzoo's contract, right and wrong, that tests/test_conformance_suite.py runs the
conformance suite on. Each module is one plugin (the suite registers it by module name)."""
