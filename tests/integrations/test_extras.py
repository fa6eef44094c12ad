"""Each framework integration is an optional extra: `import ato` imports none of them, and a
missing framework gets one line naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("lightning", ["pytorch_lightning", "lightning"],
     "ato.integrations.lightning needs PyTorch Lightning: pip install 'ato[lightning]'"),
    ("transformers", ["transformers"],
     "ato.integrations.transformers needs Hugging Face Transformers: pip install 'ato[transformers]'"),
    ("mlflow", ["mlflow"], "ato.integrations.mlflow needs MLflow: pip install 'ato[mlflow]'"),
]


@pytest.mark.parametrize(("module", "packages", "message"), CASES, ids=[case[0] for case in CASES])
def test_a_missing_framework_names_its_extra(module: str, packages: list[str], message: str) -> None:
    # A None in sys.modules makes `import NAME` raise ImportError, as an uninstalled package does.
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in packages)
    script = (
        f"import sys; {blocked}\n"
        f"try:\n    import ato.integrations.{module}\n"
        "except ImportError as exc:\n    print(exc)\nelse:\n    print('imported')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == message


def test_import_ato_imports_no_integration() -> None:
    script = (
        "import sys, ato\n"
        "loaded = [m for m in sys.modules if m.startswith('ato.integrations') or m.split('.')[0] in "
        "('pytorch_lightning', 'lightning', 'transformers', 'mlflow', 'torch')]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
