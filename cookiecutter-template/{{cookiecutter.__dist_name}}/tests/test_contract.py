"""The medigan plugin contract, one test per check: the same checks as `medigan check {{ cookiecutter.model_id }}`."""

from medigan_host.devkit.testing import contract_tests

test_contract = contract_tests("{{ cookiecutter.model_id }}")
