"""Visualisation: sample grids (``medigan show``), latent interpolation, the interactive explorer and the HTML
gallery. Depends on the core only."""
