"""The OpenAPI 3.1 description of the `medigan serve` API, served at ``/api/openapi.json``.

Written out here rather than derived, so that it says what each endpoint means; tests check that it lists exactly
the routes the application has."""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "A one-line error saying what was wrong and what to do",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_RUN_ID = {"name": "run", "in": "path", "required": True, "description": "A run id, as returned when the run started",
           "schema": {"type": "string", "pattern": "^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$"}}
_MODEL_ID = {"name": "model", "in": "path", "required": True, "description": "A model id (or upstream id, or number)",
             "schema": {"type": "string"}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _op(summary: str, responses: dict[str, Any], *, parameters: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, errors: tuple[str, ...] = ("400", "401")) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **{code: _ERROR for code in errors}}}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    return op


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def openapi_document(version: str) -> dict[str, Any]:
    """The API description (OpenAPI 3.1)."""
    filters = [_query(name, f"Only models with this {name} (repeat for several; exact, case-insensitive)",
                      {"type": "array", "items": {"type": "string"}})
               for name in ("modality", "anatomy", "framework", "architecture", "dataset", "outputs", "tag", "license")]
    run_ok = _json("Run", "The run")
    paths = {
        "/api/server": {"get": _op("The server's version, limits and settings", {"200": _json("Server", "Server")})},
        "/api/openapi.json": {"get": _op("This description", {"200": {"description": "OpenAPI 3.1 document"}}, errors=())},
        "/api/models": {"get": _op(
            "List and search the installed models (free text ranked by relevance, exact filters)",
            {"200": _json("ModelList", "Matching models, best first, and the values each filter can take")},
            parameters=[_query("q", "Free text over every card field", {"type": "string"}),
                        _query("conditional", "Only models that accept conditions (true) or not (false)", {"type": "boolean"}),
                        _query("limit", "At most this many models", {"type": "integer", "minimum": 1}), *filters])},
        "/api/models/{model}": {"get": _op("A model's card, its output formats and whether this server runs it",
                                           {"200": _json("Model", "The model")}, parameters=[_MODEL_ID],
                                           errors=("401", "404"))},
        "/api/models/{model}/grid.png": {"get": _op(
            "A PNG grid of the model's samples 0..n-1 for a run seed (masks overlaid in colour, volumes as mid slices)",
            {"200": {"description": "PNG image", "content": {"image/png": {}}}},
            parameters=[_MODEL_ID, _query("n", "Samples in the grid (1 to the server's max_grid)", {"type": "integer", "default": 8}),
                        _query("seed", "Run seed", {"type": "integer", "default": 0})], errors=("400", "401", "403", "404"))},
        "/api/runs": {
            "get": _op("The runs on this server, newest first", {"200": _json("RunList", "Runs")}, errors=("401",)),
            "post": _op("Start a run; returns its id at once (202). It runs on the server's engine (local or ray)",
                        {"202": run_ok}, body={"required": True, "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/RunRequest"}}}},
                        errors=("400", "401", "403", "404", "413", "429")),
        },
        "/api/runs/{run}": {"get": _op("A run's state and progress", {"200": run_ok}, parameters=[_RUN_ID], errors=("401", "404"))},
        "/api/runs/{run}/events": {"get": _op(
            "Follow a run: Server-Sent Events, one 'progress' event with the run (as GET /api/runs/{run}) whenever it "
            "changes, until it is done, failed or cancelled",
            {"200": {"description": "text/event-stream", "content": {"text/event-stream": {}}}}, parameters=[_RUN_ID],
            errors=("401", "404"))},
        "/api/runs/{run}/cancel": {"post": _op("Cancel a queued or running run after the batch in progress (it can be resumed)",
                                               {"202": run_ok}, parameters=[_RUN_ID], errors=("401", "404", "409"))},
        "/api/runs/{run}/resume": {"post": _op("Complete a cancelled or failed run: finished samples are kept, the others written",
                                               {"202": run_ok}, parameters=[_RUN_ID], errors=("401", "403", "404", "409", "429"))},
        "/api/runs/{run}/manifest": {"get": _op("The run's manifest records (files, sha256, seed, versions), in index order",
                                                {"200": _json("Manifest", "Manifest")}, parameters=[_RUN_ID], errors=("401", "404"))},
        "/api/runs/{run}/files": {"get": _op("The files of the run folder", {"200": _json("FileList", "Files")},
                                             parameters=[_RUN_ID], errors=("401", "404"))},
        "/api/runs/{run}/files/{path}": {"get": _op(
            "One file of the run, by a path from its file list (any other path is 404)",
            {"200": {"description": "The file, with its content type"}},
            parameters=[_RUN_ID, {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                                  "description": "A path from GET /api/runs/{run}/files, e.g. images/000000.png"}],
            errors=("401", "404"))},
        "/api/runs/{run}/preview/{index}.png": {"get": _op(
            "One finished sample as a PNG for viewing, read back from its file in any format (mask overlaid)",
            {"200": {"description": "PNG image", "content": {"image/png": {}}}},
            parameters=[_RUN_ID, {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
            errors=("401", "404"))},
        "/api/runs/{run}/zip": {"get": _op("The run folder of a finished run as a ZIP (streamed)",
                                           {"200": {"description": "ZIP archive", "content": {"application/zip": {}}}},
                                           parameters=[_RUN_ID], errors=("401", "404", "409"))},
    }
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Server": {"type": "object", "properties": {
            "name": {"type": "string"}, "version": {"type": "string"}, "engine": {"type": "string"},
            "trust_remote_code": {"type": "boolean"}, "token_required": {"type": "boolean"}, "runs_folder": {"type": "string"},
            "limits": {"type": "object", "properties": {k: {"type": "integer"} for k in
                                                        ("max_samples", "max_runs", "max_request_bytes", "max_grid")}}}},
        "ModelSummary": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "modality": {"type": "string"}, "anatomy": {"type": "string"},
            "framework": {"type": "string"}, "outputs": {"type": "string"}, "input": {"type": "string"},
            "image_size": {"type": "array", "items": {"type": "integer"}}, "channels": {"type": "integer"},
            "conditions": {"type": "object"}, "description": {"type": "string"}, "plugin": {"type": "string"},
            "remote_code": {"type": "boolean"}, "runnable": {"type": "boolean"}, "score": {"type": ["number", "null"]}}},
        "ModelList": {"type": "object", "properties": {
            "query": {"type": "string"}, "results": {"type": "array", "items": {"$ref": "#/components/schemas/ModelSummary"}},
            "facets": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "total": {"type": "integer"}, "corrections": {"type": "object"}, "filter_hints": {"type": "object"}}},
        "Model": {"allOf": [{"$ref": "#/components/schemas/ModelSummary"}, {"type": "object", "properties": {
            "card": {"type": "object"}, "formats": {"type": "array", "items": {"type": "string"}},
            "default_format": {"type": "string"}, "needs_inputs": {"type": "boolean"}, "refused": {"type": "string"}}}]},
        "RunRequest": {"type": "object", "required": ["model"], "additionalProperties": False, "properties": {
            "model": {"type": "string"},
            "num_samples": {"type": "integer", "minimum": 1, "description": "Default: one per input (image-to-image models)"},
            "seed": {"type": "integer", "minimum": 0, "default": 0},
            "condition": {"type": "object", "description": "Conditions declared on the card, e.g. {\"lesion\": \"present\"}"},
            "format": {"type": "string", "description": "png, png16, npy, nifti, nifti-gz, dicom, tiff … (default: png 2-D, npy 3-D)"},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 4096},
            "inputs": {"type": "array", "description": "Inputs of an image-to-image model, one per sample",
                       "items": {"type": "object", "required": ["name", "data"], "properties": {
                           "name": {"type": "string", "description": "A file name whose suffix says the format (.png, .npy …)"},
                           "data": {"type": "string", "contentEncoding": "base64"}}}}}},
        "Run": {"type": "object", "properties": {
            "id": {"type": "string"}, "model": {"type": "string"}, "model_version": {"type": "string"},
            "num_samples": {"type": "integer"}, "seed": {"type": "integer"}, "condition": {"type": ["object", "null"]},
            "format": {"type": "string"}, "batch_size": {"type": "integer"}, "inputs": {"type": ["integer", "null"]},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
            "done": {"type": "integer", "description": "Samples finished"}, "error": {"type": "string"},
            "created": {"type": "string"}, "started": {"type": ["string", "null"]}, "finished": {"type": ["string", "null"]},
            "resumed": {"type": "integer", "description": "How often the run was resumed (after a restart, or on request)"},
            "result": {"type": "object"}, "folder": {"type": "string", "description": "The run folder on the server"},
            "urls": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "RunList": {"type": "object", "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}}},
        "Manifest": {"type": "object", "properties": {"run": {"type": "string"},
                                                      "records": {"type": "array", "items": {"type": "object"}}}},
        "FileList": {"type": "object", "properties": {"run": {"type": "string"}, "files": {"type": "array", "items": {
            "type": "object", "properties": {"path": {"type": "string"}, "size": {"type": "integer"},
                                             "content_type": {"type": "string"}, "url": {"type": "string"}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "medigan serve", "version": version,
                 "description": "Generate synthetic medical images with the models installed on this server. A run is an "
                                "ordinary medigan run folder (manifest.jsonl, run.json, images/, masks/)."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                     "description": "Needed when the server was started with a token"}}},
        "security": [{}, {"token": []}],
    }
