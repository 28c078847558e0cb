"""Generation: the engine that writes a model's samples to a run folder (resumable, locked, verified), the run folders
and sample stores, the inputs of image-to-image models, and distributed generation on Ray. Depends on the core and on
:mod:`medigan_host.formats` (the writers) only."""
