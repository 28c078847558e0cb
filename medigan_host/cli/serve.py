"""``medigan serve``: the browser app and JSON API (:mod:`medigan_host.serve`), on uvicorn."""

from __future__ import annotations

from typing import Any

import click


def make_serve_command(cls: type[click.Command]) -> click.Command:
    """The command, built with the command class of the ``medigan`` group (its help format)."""

    @click.command("serve", cls=cls)
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="Address to listen on. Anything but a loopback address needs a token.")
    @click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on (0: any free port).")
    @click.option("--runs", "runs", default="medigan-runs", show_default=True, type=click.Path(file_okay=False),
                  help="Folder that holds the runs (one run folder per run, resumed after a restart).")
    @click.option("--token", help="Every request must carry this token (Authorization: Bearer TOKEN; the page: /?token=TOKEN). "
                                  "Default: MEDIGAN_SERVE_TOKEN. Required for a non-loopback --host.")
    @click.option("--trust-remote-code", is_flag=True,
                  help="Run models whose card says remote_code (they run code downloaded with them); refused otherwise.")
    @click.option("--max-samples", type=click.IntRange(min=1), default=1000, show_default=True, help="Most samples in one run.")
    @click.option("--max-runs", type=click.IntRange(min=1), default=2, show_default=True,
                  help="Most runs in progress at once; more are refused (HTTP 429) until one ends.")
    @click.option("--max-request-mb", type=click.FloatRange(min=0.001), default=64.0, show_default=True,
                  help="Largest request body (inputs of image-to-image models) in MiB.")
    @click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
                  help="Default samples per call of a model (a run may ask for another).")
    @click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
    @click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                  help="local: runs in this process; ray: on Ray workers, as `medigan generate --engine ray`.")
    @click.option("--address", help="Ray cluster to run on (e.g. ray://head:10001, auto).")
    @click.option("--workers", type=click.IntRange(min=1), help="Ray workers per run (default: the cluster's CPUs).")
    @click.option("--gpus-per-worker", type=click.FloatRange(min=0), help="GPUs each Ray worker takes.")
    def serve_command(host: str, port: int, runs: str, token: str | None, trust_remote_code: bool, max_samples: int,
                      max_runs: int, max_request_mb: float, batch_size: int, device: str, engine: str, address: str | None,
                      workers: int | None, gpus_per_worker: float | None) -> None:
        """Serve the installed models: a web app and a JSON HTTP API (needs medigan-host[serve])."""
        from ..errors import FrameworkMissingError
        from ..frameworks import check_device, pip_command

        try:
            import uvicorn

            from ..serve.app import create_app
            from ..serve.config import ServeConfig
        except ImportError as exc:
            raise FrameworkMissingError(f"`medigan serve` needs the serve extra ({exc.name} is missing): "
                                        f"`{pip_command('medigan-host[serve]')}`") from None
        check_device(device)
        config = ServeConfig.checked(runs, host=host, port=port, token=token, trust_remote_code=trust_remote_code,
                                     max_samples=max_samples, max_runs=max_runs,
                                     max_request_bytes=int(max_request_mb * 2**20), batch_size=batch_size, device=device,
                                     engine=engine, address=address, workers=workers, gpus_per_worker=gpus_per_worker)
        from ..serve.runs import RunManager

        manager = RunManager(config)
        manager.lock()  # before listening: a second server on the same runs folder stops here, with one line
        manager.connect_ray()  # --engine ray: Ray missing or a cluster that does not answer, also one line
        app = create_app(config, manager)
        server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                               timeout_graceful_shutdown=5, server_header=False))
        _announce(server, config)
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn shut down cleanly, then passed Ctrl+C on
            pass
        click.echo("medigan serve stopped; runs in progress resume at the next start on the same --runs folder", err=True)

    return serve_command


def _announce(server: Any, config: Any) -> None:
    """Print the address once uvicorn listens (the port may have been 0: any free one)."""
    started = server.startup

    async def startup(sockets: Any = None) -> None:
        await started(sockets=sockets)
        if not server.started:
            return
        port = next((s.getsockname()[1] for srv in server.servers for s in srv.sockets), config.port)
        shown = f"[{config.host}]" if ":" in config.host else config.host
        query = "/?token=…" if config.token else "/"
        click.echo(f"medigan serve: http://{shown}:{port}{query}  (runs in {config.runs.resolve()}; Ctrl+C stops, "
                   "runs in progress resume at the next start)", err=True)

    server.startup = startup
