"""The licence and the citation file agree with the package metadata."""
import configparser
import os.path as osp

import yaml
from repo_root import REPO_ROOT

REPO = REPO_ROOT


def test_license_file_is_the_apache_2_licence_setup_cfg_declares():
    setup = configparser.ConfigParser()
    setup.read(osp.join(REPO, 'setup.cfg'))
    assert setup['metadata']['license'] == 'Apache-2.0'
    with open(osp.join(REPO, 'LICENSE')) as f:
        text = f.read()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text


def test_citation_file_cites_the_three_papers():
    with open(osp.join(REPO, 'CITATION.cff')) as f:
        citation = yaml.safe_load(f)
    assert citation['cff-version'] == '1.2.0'
    assert citation['license'] == 'Apache-2.0'
    cited = {ref['identifiers'][0]['value']: ref['title']
             for ref in citation['references']}
    assert set(cited) == {'arXiv:2404.08489', 'arXiv:2503.06446',
                          'arXiv:2603.17705'}
    assert cited['arXiv:2404.08489'].startswith('SpectralMamba')
    assert cited['arXiv:2503.06446'].startswith('M3amba')
    assert all(ref['authors'] for ref in citation['references'])
