"""The repository's root folder, for tests that read configs or run tools.

Importable from every test module (pytest puts ``tests/`` on ``sys.path``
for the root ``conftest.py``), so no test counts its folder depth.
"""
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
