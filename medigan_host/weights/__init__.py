"""Model weights: fetched once into a per-user cache, verified every time they are used.

A card's ``weights`` entry says where a file comes from:

- ``{"url": "https://…", "sha256": …}`` (``size`` and ``filename`` optional): downloaded into
  ``<cache>/<model id>/<version>/<filename>``;
- ``{"doi": "10.5281/zenodo.<record>", "filename": …}`` (``sha256`` and ``size`` optional): the file of that
  Zenodo record, found through the record API at ``MEDIGAN_ZENODO_URL`` (default https://zenodo.org). Without a
  pinned sha256 it is checked against the md5 and size the record publishes, and the sha256 of the verified file is
  recorded beside it (``<file>.sha256``), so every later use is checked like a pinned file;
- ``{"hf": "org/repo", "revision": "<commit sha>", "filename": "path/in/repo", "sha256": …}`` (``size``
  optional): a file of a Hugging Face Hub repository at a pinned commit, resolved through ``huggingface_hub`` (its
  ``HF_ENDPOINT`` for mirrors, its token for gated repositories, its ``HF_HUB_OFFLINE``). A copy already in the Hub
  cache of ``huggingface_hub`` is used where it lies once its sha256 matches; otherwise the file is downloaded into
  medigan's cache like every other file (same bounds, lock and verification);
- ``file:///absolute/path``: a local copy (e.g. on a shared drive), verified where it lies, never copied or deleted;
- ``package://<python.package>/<path/in/package>``: a file shipped inside an installed plugin, verified where it lies;
- ``{"folder": "/absolute/path" or "file:///absolute/path", "sha256": …}``: a local folder of files (a diffusers
  ``save_pretrained`` folder), used where it lies once the digest of its files (:func:`folder_sha256`) matches;
  :func:`fetch_weights` returns the folder.

The cache folder is ``MEDIGAN_CACHE_DIR`` or the per-user cache folder of the platform. ``MEDIGAN_OFFLINE=1`` forbids
downloads. A download goes to a temporary name and is renamed into place only after it was verified, so an
interrupted or corrupted download never leaves a file that is later taken for good; a file whose hash does not match
is deleted and the error says so. Downloads are bounded: never more bytes than the card or record declares, a stall
timeout (``MEDIGAN_DOWNLOAD_STALL_TIMEOUT``) and an overall deadline (``MEDIGAN_DOWNLOAD_DEADLINE``); several
processes asking for the same file download it once (a lock under ``<cache>/.locks``), and what killed downloads
left behind is removed by the next download of that file. Plugins that convert weights themselves (from an original
checkpoint whose hash nobody published) keep them in the same cache with :func:`store_weights` /
:func:`stored_weights`, which record the file's sha256 beside it and check it on every use.


The package, one module per concern (each imports only those listed after it):

- :mod:`.fetch`: :func:`fetch_weights`, each kind of entry to its source;
- :mod:`.url`: the one download path of every downloaded entry, and the check of a cached copy on every use;
- :mod:`.place`: files put into the cache by hand (:func:`place_weights`) or by a plugin (:func:`store_weights`);
- :mod:`.entries`: which entry is meant, the sha256 its file must have, how to get it by hand (:func:`placement`);
- :mod:`.local`: ``file://``, ``package://`` and ``folder`` entries, used where they lie;
- :mod:`.hub`: the Hugging Face Hub source;
- :mod:`.record`: the Zenodo-compatible record client (``doi`` entries, published md5s);
- :mod:`.download`: a bounded, streamed download, its lock, progress bar and network failures;
- :mod:`.cache`: the cache's paths, inventory (:func:`cached_files`) and clearing (:func:`clear_cache`);
- :mod:`.verify`: hashes and the sha256 records kept beside stored files.
"""

from __future__ import annotations

from .cache import (
    ENTRY_MARKER,
    UNPACKED_FOLDER,
    cache_root,
    cached_files,
    cached_model_id,
    claim_folder,
    clear_cache,
    clear_plan,
    is_offline,
    model_folder,
    version_folder,
)
from .download import _seconds, download_max_bytes, network_reason
from .entries import expected_sha256, placement, weights_entry
from .fetch import fetch_weights
from .place import place_weights, store_weights, stored_weights, unverified_weights
from .verify import RECORD_SUFFIX, folder_sha256, sha256_of

#: What the host, plugins, tests and docs import from here (``_seconds``: the host's positive-seconds setting,
#: read by :mod:`medigan_host.environments` and the original-models plugin).
__all__ = [
    "ENTRY_MARKER", "RECORD_SUFFIX", "UNPACKED_FOLDER", "_seconds", "cache_root", "cached_files", "cached_model_id",
    "claim_folder", "clear_cache", "clear_plan", "download_max_bytes", 'expected_sha256', "fetch_weights",
    'folder_sha256', "is_offline", "model_folder", "network_reason", "place_weights", "placement", 'sha256_of',
    "store_weights", "stored_weights", "unverified_weights", "version_folder", "weights_entry",
]
