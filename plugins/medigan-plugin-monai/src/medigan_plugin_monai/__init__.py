"""MONAI model-zoo generative bundles as medigan models (see plugin.py for the cards, runner.py for the loader)."""
