"""Helpers shared between test modules: builders of the lines and services tests run against,
the settings and requests every test needs, and the data several modules assert on.

Fixtures stay in conftest.py (which imports from here) or in the test module that uses them; a
test module never imports another test module.
"""
