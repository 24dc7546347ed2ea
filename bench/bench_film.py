"""The film renderer on real ComfyUI servers with the tiny models: memory against film length, 1 against 2 servers,
Ray, and a server killed mid-film.

Each run is a fresh process (`--one`) that renders a tiny film (64x64, 1 fps, 2 sampler steps a frame at denoise 0.5)
and prints its figures: the renderer's peak RSS (this process: plan, scheduler, stitch, report) and
each server's (the ComfyUI process, read from /proc before it stops), and the render's wall time (servers already
started). Runs:
- 1, 2 and 4 minutes on one server: peak RSS should stay flat (frames stream to disk on both sides);
- 1 minute on two servers (threads, then Ray with one server killed mid-film): wall time against one server, and
  every frame compared with the one-server render.
Needs COMFYUI_DIR; at most two servers run at once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

FPS = 1
WORK = REPO_ROOT / "build" / "bench-film"
TINY_MODELS = REPO_ROOT / "build" / "tiny-models"


def storyboard_text(minutes: float, title: str) -> str:
    """Three scenes sharing `minutes`, a crossfade and a morph of 4 frames, the tiny models' filenames."""
    from longform_pack.core.manifest import load_manifest

    tiny = {entry.id: entry.tiny_filename for entry in load_manifest()}
    scene = minutes * 60 / 3
    return f"""title: {title}
fps: {FPS}
width: 64
height: 64
render: {{steps: 2, strength: 0.5, morph_strength: 0.5}}
models: {{checkpoint: {tiny["sd15"]}, controlnet: {tiny["controlnet_scribble"]}, lora: {tiny["lora_pokemon"]},
          ipadapter: {tiny["ipadapter_plus_sd15"]}, clip_vision: {tiny["clip_vision_h"]}}}
characters:
  creature: {{reference: longform_character.png}}
scenes:
  - {{name: forest, duration: {scene}, sketch: longform_sketch.png, character: creature, seed: 1,
      schedule: "0: a yellow creature in a sunny forest\\n{scene / 2}s: a yellow creature in a forest at dusk",
      transition: {{crossfade: 4}}}}
  - {{name: storm, duration: {scene}, character: creature, seed: 2, schedule: "0: a yellow creature in a storm",
      transition: {{morph: 4}}}}
  - {{name: town, duration: {scene}, sketch: longform_sketch.png, character: creature, seed: 3,
      schedule: "0: a yellow creature in a town at dawn"}}
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_once(minutes: float, servers: int, use_ray: bool, kill: bool, title: str) -> dict:
    """Render one film in this process; its figures."""
    from _pack import load_pack

    pack = load_pack()
    from longform_pack.core import host
    from longform_pack.core.film.plan import FilmPlan
    from longform_pack.core.film.render import finish_film
    from longform_pack.core.film.storyboard import load_storyboard

    from film import FilmRun
    from film_servers import ManagedServer, RayWorker, ServerWorker, server_actors, start_ray, stop_servers

    input_dir, output_dir = WORK / "input", WORK / "output"
    shutil.rmtree(output_dir / "film" / title, ignore_errors=True)
    (input_dir / f"{title}.yaml").write_text(storyboard_text(minutes, title), encoding="utf-8")
    plan = FilmPlan(load_storyboard(input_dir / f"{title}.yaml", input_dir), output_dir, pack.NODE_CLASS_MAPPINGS)
    settings = {"comfyui_dir": Path(os.environ["COMFYUI_DIR"]), "models_dir": TINY_MODELS, "input_dir": input_dir,
                "output_dir": output_dir}
    started, actors, killed = [], [], {}
    try:
        if use_ray:
            start_ray()
            actors = server_actors(servers, settings)
            workers = [RayWorker(actor, f"ray-{index}") for index, actor in enumerate(actors)]
            pids = [_ray_get(actor.pid.remote()) for actor in actors]
        else:
            started = [ManagedServer(**settings).start() for _ in range(servers)]
            workers = [ServerWorker(server.url, f"server-{index}") for index, server in enumerate(started)]
            pids = [server.pid for server in started]
        run = FilmRun(plan, workers, progress_every=15)
        if kill:
            threading.Thread(target=_kill_mid_scene, args=(run, plan, workers[-1].name, pids[-1], killed),
                             daemon=True).start()
        began = time.perf_counter()
        run.run()
        render_s = time.perf_counter() - began
        server_peaks = [_ray_get(actor.peak_rss_mb.remote()) for actor in actors] if actors else [
            server.peak_rss_mb() for server in started]
        host.set_models_dir(TINY_MODELS)
        began = time.perf_counter()
        finish_film(plan, "longform-tiny-clip.safetensors")
        finish_s = time.perf_counter() - began
    finally:
        stop_servers(started, actors)
    return {"minutes": minutes, "frames": plan.board.frame_count, "servers": servers, "ray": use_ray,
            "render_s": round(render_s, 1), "stitch_and_report_s": round(finish_s, 1),
            "seconds_per_frame": round(render_s / plan.rendered_frames, 3),
            "renderer_peak_rss_mb": round(_peak_rss_mb()),
            "server_peak_rss_mb": [None if peak is None else round(peak) for peak in server_peaks],
            "killed": killed or None, "retried": dict(run.attempts),
            "load_average_1min_after": round(os.getloadavg()[0], 1)}


def _ray_get(reference):
    import ray

    return ray.get(reference)


def _kill_mid_scene(run, plan, worker_name: str, pid: int, killed: dict) -> None:
    """Kill the server of `worker_name` once it has streamed a few frames of a scene."""
    while not killed:
        for unit_id, name in list(run.running.items()):
            unit = plan.units[unit_id]
            if name == worker_name and unit.kind == "animate" and 3 <= plan.frames_on_disk(unit_id) < unit.frames - 3:
                os.kill(pid, signal.SIGKILL)
                killed.update(unit=unit_id, after_frames=plan.frames_on_disk(unit_id))
                return
        time.sleep(0.1)


def _subprocess(minutes: float, servers: int, title: str, use_ray: bool = False, kill: bool = False) -> dict:
    command = [sys.executable, __file__, "--one", str(minutes), "--servers", str(servers), "--title", title]
    command += (["--ray"] if use_ray else []) + (["--kill"] if kill else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LONGFORM_PROGRESS": "0"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{title} failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(figures), flush=True)
    return figures


def _same_frames(title: str, reference: str) -> bool:
    """Every frame of film `title` equal to film `reference`'s (the same storyboard but for the title)."""
    import numpy as np
    from PIL import Image

    ours = sorted((WORK / "output" / "film" / title).rglob("frame_*.png"))
    theirs = sorted((WORK / "output" / "film" / reference).rglob("frame_*.png"))
    if [p.relative_to(WORK / "output" / "film" / title) for p in ours] != [
            p.relative_to(WORK / "output" / "film" / reference) for p in theirs]:
        return False
    return all(np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))) for a, b in zip(ours, theirs))


def scheduled_frames(plan, servers: int) -> float:
    """The film's render time in frames when every frame costs the same and units go, in plan order, to the first
    free server once their dependencies are done (as FilmRun hands them out): the wall-time ratio an idle machine
    would give."""
    free, done, todo = [0.0] * servers, {}, [unit for unit in plan.units.values() if unit.kind != "stitch"]
    while todo:
        server = min(range(servers), key=free.__getitem__)
        ready = [u for u in todo if all(dep in done for dep in u.deps)]
        start = max(free[server], min((max([done[d] for d in u.deps], default=0.0) for u in ready)))
        unit = next(u for u in ready if max([done[d] for d in u.deps], default=0.0) <= start)
        done[unit.id] = free[server] = start + unit.frames
        todo.remove(unit)
    return max(done.values())


def main() -> dict:
    """Every run; the figures for bench/results.json."""
    if not os.environ.get("COMFYUI_DIR"):
        return {"skipped": "set COMFYUI_DIR to a ComfyUI work tree to run the film benchmark"}
    from _pack import load_pack

    load_pack()
    from longform_pack.core import tiny

    tiny.build_all(TINY_MODELS)  # from the cache when built before
    (WORK / "input").mkdir(parents=True, exist_ok=True)
    for name in ("longform_sketch.png", "longform_character.png"):
        shutil.copy(REPO_ROOT / "example_inputs" / name, WORK / "input" / name)
    lengths = [_subprocess(minutes, 1, f"bench-{minutes}min") for minutes in (1, 2, 4)]
    two = _subprocess(1, 2, "bench-1min-2servers")
    ray_killed = _subprocess(1, 2, "bench-1min-ray-killed", use_ray=True, kill=True)
    one = lengths[0]
    from longform_pack.core.film.plan import FilmPlan
    from longform_pack.core.film.storyboard import load_storyboard

    pack = sys.modules["longform_pack"]
    plan = FilmPlan(load_storyboard(WORK / "input" / "bench-1min.yaml", WORK / "input"), WORK / "output",
                    pack.NODE_CLASS_MAPPINGS)
    return {
        "film": "tiny models, 64x64, 1 fps, 2 sampler steps a frame at denoise 0.5, 3 scenes + crossfade + morph",
        "by_length_one_server": lengths,
        "two_servers": two,
        "two_servers_ray_one_killed": ray_killed,
        "wall_ratio_two_to_one_server": round(two["render_s"] / one["render_s"], 3),
        "scheduled_ratio_two_to_one_server": round(scheduled_frames(plan, 2) / scheduled_frames(plan, 1), 3),
        "frames_identical_two_servers": _same_frames("bench-1min-2servers", "bench-1min"),
        "frames_identical_after_kill_ray": _same_frames("bench-1min-ray-killed", "bench-1min"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", type=float, help="render one film of this many minutes and print its figures")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--title", default="bench")
    args = parser.parse_args()
    if args.one is None:
        print(json.dumps(main(), indent=1))
    else:
        print(json.dumps(render_once(args.one, args.servers, args.ray, args.kill, args.title)))
