"""The layering contracts in pyproject.toml ([tool.importlinter]) hold: serving and tuning sit over
the core, and the core imports neither."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is missing: pip install -e '.[test]'"
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert "0 broken" in done.stdout


@pytest.mark.slow
def test_serving_loads_no_tuning_module():
    code = ("import sys; from askknee.settings import prepare_process; prepare_process(); "
            "import askknee.web, askknee.answering; "
            "print(sorted(m for m in sys.modules if m.startswith('askknee.tuning') or m == 'askknee.cli'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
