"""tools/benchmark_isprs_crops.py runs (tiny sizes) and prints its figures."""
import os
import runpy
import sys


def test_benchmark_tool_prints_both_rates_and_ratio(repo_root, monkeypatch,
                                                    capsys, tmp_path):
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_isprs_crops.py', '--size', '300', '--crop', '64',
        '--window-crops', '3', '--baseline-crops', '1', '--repeats', '1',
        '--workdir', str(tmp_path)
    ])
    runpy.run_path(
        os.path.join(repo_root, 'tools', 'benchmark_isprs_crops.py'),
        run_name='__main__')
    out = capsys.readouterr().out
    assert 'window reading' in out and 'whole-tile decoding' in out
    assert 'ratio (window / whole-tile crops per second)' in out
    assert os.listdir(tmp_path) == []  # the generated tile is removed
