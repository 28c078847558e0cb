"""Refuse answers that would make an invalid plugin, before anything is written."""

import json
import sys

try:
    from medigan_host.devkit.scaffold import card_from_answers
    from medigan_host.errors import MediganUsageError
except ImportError:
    sys.exit("error: this template needs medigan-host in the same Python: pip install 'medigan-host[new]', then use `medigan new`")

ANSWERS = json.loads({{ cookiecutter | jsonify | tojson }})

try:
    card_from_answers(ANSWERS)
except MediganUsageError as exc:
    sys.exit(f"error: {exc}")
