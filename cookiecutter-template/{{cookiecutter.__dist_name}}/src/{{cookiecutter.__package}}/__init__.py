"""{{ cookiecutter.architecture }} for {{ cookiecutter.modality }} {{ cookiecutter.anatomy }}: a medigan plugin ({{ cookiecutter.framework }})."""

__version__ = "0.1.0"
