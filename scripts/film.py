"""Render a film from a storyboard on one or several ComfyUI servers, optionally through Ray.

    python scripts/film.py render example_inputs/storyboard.yaml --comfyui /path/to/ComfyUI
    python scripts/film.py render board.yaml --comfyui ... --servers 2 --ray            # two servers, local Ray
    python scripts/film.py render board.yaml --comfyui ... --servers 4 --ray --ray-address ray://head:10001
    python scripts/film.py render board.yaml --url http://127.0.0.1:8188              # a server already running
    python scripts/film.py plan board.yaml                                             # units, dependencies, state

The units (sd15: workflows/film_units.py; video engines: their template, as chained chunks) go to free servers as soon
as their dependencies are done, after every template is checked against the first server's /object_info; a unit
whose server dies runs again on another, resuming from the frames already on disk (a chunk renders again whole). A re-run skips finished units. Servers this
script starts use the storyboard's folder (or --input-dir) as their input folder and --out as their output folder;
servers given with --url must have been started with the same --input-directory and --output-directory.
Ray (`pip install .[film]`) is needed only with --ray. Exit codes: 0 done, 1 a unit failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from _pack import load_pack
from tiny_profile import film_profile, with_tiny_models

logger = logging.getLogger("LongForm.film")


class FilmRun:
    """Hands a plan's units to workers (one thread each), retries a unit whose server died, reports progress."""

    def __init__(self, plan, workers: list, retries: int = 2, progress_every: float = 5.0):
        self.plan, self.workers, self.retries, self.progress_every = plan, list(workers), retries, progress_every
        self.done = {unit_id for unit_id in plan.units if plan.is_done(unit_id)}
        self.running: dict[str, str] = {}  # unit id -> worker name
        self.attempts: dict[str, int] = {}
        self.failure: BaseException | None = None
        self.rendered: list[str] = []
        self._alive = len(self.workers)
        self._condition = threading.Condition()

    def _rendered_units_done(self) -> bool:
        return all(unit_id in self.done for unit_id, unit in self.plan.units.items() if unit.kind != "stitch")

    def _next_unit(self):
        with self._condition:
            while True:
                if self.failure is not None or self._rendered_units_done():
                    return None
                ready = [unit for unit in self.plan.ready(self.done, set(self.running)) if unit.kind != "stitch"]
                if ready:
                    return ready[0]
                self._condition.wait(1.0)

    def _serve(self, worker) -> None:
        from film_servers import ServerDied

        while (unit := self._next_unit()) is not None:
            with self._condition:
                self.running[unit.id] = worker.name
            logger.info("%s -> %s", unit.id, worker.name)
            try:
                self.plan.begin(unit.id)
                self.plan.finish(unit.id, worker.run(unit.workflow))
            except ServerDied as error:
                with self._condition:
                    del self.running[unit.id]
                    self.attempts[unit.id] = self.attempts.get(unit.id, 0) + 1
                    self._alive -= 1
                    logger.warning("%s; %s goes to another server (%d left).", error, unit.id, self._alive)
                    if self._alive == 0 or self.attempts[unit.id] > self.retries:
                        self.failure = error
                    self._condition.notify_all()
                return
            except BaseException as error:  # a failed workflow stops the film: its message is the user's to read
                with self._condition:
                    del self.running[unit.id]
                    self.failure = error
                    self._condition.notify_all()
                return
            with self._condition:
                del self.running[unit.id]
                self.done.add(unit.id)
                self.rendered.append(unit.id)
                self._condition.notify_all()

    def progress_line(self) -> str:
        """The whole film's frames on disk, and each running unit's."""
        plan = self.plan
        total = plan.rendered_frames
        made = sum(plan.units[unit_id].frames if unit_id in self.done else plan.frames_on_disk(unit_id)
                   for unit_id in plan.units)
        running = ", ".join(f"{unit_id} {plan.frames_on_disk(unit_id)}/{plan.units[unit_id].frames} on {name}"
                            for unit_id, name in sorted(self.running.items()))
        return f"film {plan.board.title}: {made}/{total} frames ({100 * made / max(total, 1):.0f}%)" + (
            f"; {running}" if running else "")

    def run(self) -> list[str]:
        """Render every unit not done yet; raise the first failure."""
        threads = [threading.Thread(target=self._serve, args=(worker,), daemon=True) for worker in self.workers]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=self.progress_every / max(len(threads), 1))
            logger.info(self.progress_line())
        if self.failure is not None:
            raise self.failure
        if not self._rendered_units_done():
            raise RuntimeError("No server is left to render the film's remaining units.")
        return self.rendered


def render(args) -> int:
    pack = load_pack()
    from longform_pack.core.film import plan as film_plan
    from longform_pack.core.film import render as film_render
    from longform_pack.core.film.storyboard import baseline_of, load_storyboard

    from film_servers import ManagedServer, RayWorker, ServerWorker, server_actors, start_ray, stop_servers

    storyboard = Path(args.storyboard)
    input_dir = Path(args.input_dir or storyboard.parent).resolve()
    board = load_storyboard(storyboard, input_dir)
    _use_models_dir(args)
    plan = film_plan.FilmPlan(board, args.out, pack.NODE_CLASS_MAPPINGS, **_profile(args))
    baseline = None
    if args.baseline:
        baseline = film_plan.FilmPlan(baseline_of(board), args.out, pack.NODE_CLASS_MAPPINGS, **_profile(args))
    logger.info("%s: %d frames (%.1f s at %g fps), %d units, output %s", board.title, board.frame_count, board.seconds,
                board.fps, len(plan.units), plan.film_dir)
    started: list[ManagedServer] = []
    actors = []
    try:
        if args.url:
            workers = [ServerWorker(url) for url in args.url]
        elif args.ray:
            start_ray(args.ray_address)
            actors = server_actors(args.servers, _server_settings(args, input_dir), args.gpus_per_server)
            workers = [RayWorker(actor, f"ray-server-{index}") for index, actor in enumerate(actors)]
        else:
            for _ in range(args.servers):
                started.append(ManagedServer(**_server_settings(args, input_dir)).start())
            workers = [ServerWorker(server.url) for server in started]
        plan.check(workers[0].object_info())
        FilmRun(plan, workers, retries=args.retries).run()
        if baseline is not None:
            FilmRun(baseline, workers, retries=args.retries).run()
            film_render.finish_film(baseline)
        encoder = "" if args.no_report else (with_tiny_models(args.encoder) if args.tiny else args.encoder)
        video, report_json, report_plot = film_render.finish_film(plan, encoder, baseline)
    finally:
        stop_servers(started, actors)
    print(video)
    for path in (report_json, report_plot):
        if path is not None:
            print(path)
    return 0


def _use_models_dir(args) -> None:
    """The models the servers load: the unit keys hash those files, and the film report's encoder is there."""
    from longform_pack.core import host

    host.set_models_dir(args.models_dir or Path(args.comfyui or ".") / "models")


def _profile(args) -> dict:
    """--tiny: the tiny stand-ins' filenames in every unit, at their native size, with the demo's few sampler steps."""
    return film_profile() if args.tiny else {}


def _server_settings(args, input_dir: Path) -> dict:
    if not args.comfyui:
        raise ValueError("Starting servers needs ComfyUI: give --comfyui /path/to/ComfyUI (or set COMFYUI_DIR), "
                         "or --url of a running server.")
    comfyui = Path(args.comfyui).resolve()
    return {"comfyui_dir": comfyui, "models_dir": Path(args.models_dir or comfyui / "models").resolve(),
            "input_dir": input_dir, "output_dir": Path(args.out).resolve(), "cpu": args.gpus_per_server == 0}


def show_plan(args) -> int:
    pack = load_pack()
    from longform_pack.core.film.plan import FilmPlan
    from longform_pack.core.film.storyboard import load_storyboard

    storyboard = Path(args.storyboard)
    board = load_storyboard(storyboard, Path(args.input_dir or storyboard.parent).resolve())
    _use_models_dir(args)
    plan = FilmPlan(board, args.out, pack.NODE_CLASS_MAPPINGS, **_profile(args))
    print(f"{board.title}: {board.frame_count} frames, {board.seconds:.1f} s at {board.fps:g} fps -> {plan.film_dir}")
    for unit in plan.units.values():
        state = "done" if plan.is_done(unit.id) else f"{plan.frames_on_disk(unit.id)}/{unit.frames} frames"
        print(f"  {unit.id:<32} {unit.kind:<9} key {unit.key}  needs {', '.join(unit.deps) or '-':<40} {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("render", "plan"):
        command = commands.add_parser(name)
        command.add_argument("storyboard", help="the storyboard (.yaml or .json)")
        command.add_argument("--input-dir", help="folder the storyboard's pictures are in (default: its own folder)")
        command.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default %(default)s)")
        command.add_argument("--tiny", action="store_true", help="use the tiny stand-in models' filenames")
        command.add_argument("--comfyui", default=os.environ.get("COMFYUI_DIR"), help="ComfyUI's folder")
        command.add_argument("--models-dir", help="models folder (default: ComfyUI's models); unit keys hash the "
                                                  "model files found there")
    render_parser = commands.choices["render"]
    render_parser.add_argument("--url", action="append", help="a running ComfyUI server (repeat for several)")
    render_parser.add_argument("--servers", type=int, default=1, help="servers to start (default %(default)s)")
    render_parser.add_argument("--ray", action="store_true", help="start the servers as Ray actors")
    render_parser.add_argument("--ray-address", help="a Ray cluster's address (default: a local Ray)")
    render_parser.add_argument("--gpus-per-server", type=float, default=0.0, help="GPUs per server (0: --cpu)")
    render_parser.add_argument("--encoder", default="clip-vit-base-patch32.safetensors",
                               help="CLIP in models/encoders for the film report (default %(default)s)")
    render_parser.add_argument("--no-report", action="store_true", help="stitch only, no film report")
    render_parser.add_argument("--baseline", action="store_true",
                               help="also render the film with the consistency switches off, for the report")
    render_parser.add_argument("--retries", type=int, default=2, help="runs of a unit after its server died")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return render(args) if args.command == "render" else show_plan(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
