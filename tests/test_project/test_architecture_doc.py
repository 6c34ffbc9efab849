"""docs/architecture.md names files that exist, every step of the path."""
import os.path as osp
import re

from repo_root import REPO_ROOT

REPO = REPO_ROOT
DOC = osp.join(REPO, 'docs', 'architecture.md')


def test_every_file_the_data_path_names_exists():
    """Each backticked path is a file or folder of the repository."""
    with open(DOC, encoding='utf-8') as f:
        text = f.read()
    paths = set(re.findall(r'`((?:m3plugins|tools|configs)/[\w./]*)`', text))
    assert len(paths) > 30, sorted(paths)
    missing = sorted(p for p in paths if not osp.exists(osp.join(REPO, p)))
    assert not missing, f'docs/architecture.md names missing files {missing}'
    # Every package file named is spelt from the repository root.
    bare = re.findall(r'`(\w+\.py)`', text)
    assert not bare, f'give the full path of {bare}'


def test_readme_points_at_the_data_path():
    """The README links the document."""
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        assert 'docs/architecture.md' in f.read()
