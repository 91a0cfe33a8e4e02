"""Test support code shared by the test packages: real server processes."""
