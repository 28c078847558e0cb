"""Keep the generator of the chosen framework, and build the untrained ONNX network for the onnx variant."""

import shutil
import subprocess
import sys
from pathlib import Path

FRAMEWORK = "{{ cookiecutter.framework }}"
PACKAGE = Path("src") / "{{ cookiecutter.__package }}"

frameworks = PACKAGE / "_frameworks"
shutil.move(str(frameworks / f"{FRAMEWORK}.py"), str(PACKAGE / "generator.py"))
shutil.rmtree(frameworks)

if FRAMEWORK == "onnx":
    try:
        import onnx  # noqa: F401
    except ImportError:
        sys.exit("error: the onnx variant builds its untrained network with the `onnx` package: "
                 "pip install onnx (or 'medigan-host[new]'), then run `medigan new` again")
    # -B: the script imports the new package, and a project fresh from the template holds no __pycache__/
    subprocess.run([sys.executable, "-B", "scripts/build_placeholder_onnx.py"], check=True)
    for cache in sorted(Path(".").rglob("__pycache__")):
        shutil.rmtree(cache)
else:
    shutil.rmtree("scripts")
