"""Shared core of landscape-gen: runtime, data, checkpoints, configs, training utilities.

Importing `lsgen` itself does not import Jittor; `lsgen.runtime` does, after preparing the
environment. Every module that needs Jittor gets it through `from lsgen.runtime import jt`.
"""
