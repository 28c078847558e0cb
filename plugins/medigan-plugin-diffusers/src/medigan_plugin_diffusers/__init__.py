"""Hugging Face Hub diffusers pipelines as medigan models, described by cards alone."""
