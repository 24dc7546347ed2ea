"""The film renderer on real ComfyUI servers with the tiny models: 2 servers against 1 with the fixed costs counted,
seconds of render per second of film per engine, memory against film length, and a server killed mid-film.

The storyboard is built for the 2-over-1 goal (<= 0.55): SCENES equal, independent scenes joined by cuts, so the plan
is SCENES keyframe -> animate chains that two servers split evenly. A film's whole wall time is
    server start + the plan's schedule of its units + stitch and report,
and only the middle part is shared between servers. Each is measured as its own figure: server start (two servers
start in parallel), each unit's wall time (its model loads included: the runner frees the server's models before every
unit), stitch and report. From the 1-server run's unit times the plan predicts the 2-server schedule (units in plan
order to the first free server once their dependencies are done, as scripts/film.py hands them out); adding the fixed
costs gives the predicted ratio, printed beside the measured one. Per-unit overhead (model loads, /free, graph set-up)
is a unit's wall time less its frames at the steady per-frame time read from its frames' write times.

Runs, each in a fresh process (`--one`):
- REPEATS interleaved pairs of the comparison film (`--engine`, Wan 2.2 TI2V by default) on 1 and on 2 servers: the
  ratio's spread; every 2-server frame compared with the 1-server frame;
- REPEATS films of each other engine on 1 server: its seconds of render per second of film;
- 1, 2 and 4 minutes on one server, once each: peak RSS should stay flat (frames stream to disk on both sides);
- 2 Ray servers on the sd15 film with one killed mid-scene (an sd15 unit streams its frames, so it can be caught
  half-done): its unit resumes on the other; frames compared with the 1-server sd15 film.
`--quick` renders a short film once on 1 and 2 servers (no series, no Ray) to check the script; its figures are not
for results.json.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(BENCH_DIR))

from _timing import MIN_REPEATS, against_bar, format_spread, ratio_spread, spread  # noqa: E402

FPS = 1
SIZE = 64
SCENES = 4
SCENE_SECONDS = 12  # the other engines' rate and the Ray kill: 4 x 12 s at 1 fps, 48 frames
# The comparison: 4 x 24 s, 96 frames, 5 Wan chunks a scene. A film pays ~13 s of fixed costs once (server start,
# stitch and report); at 4 x 12 s they alone put the whole-film ratio above the goal (0.581 measured at 6214b50).
COMPARISON_SCENE_SECONDS = 24
QUICK_SCENE_SECONDS = 3
GOAL = 0.55
DEFAULT_ENGINE = "wan22-ti2v"
KILL_ENGINE = "sd15"  # the Ray kill needs a unit that streams its frames; a Wan chunk writes them all at its end
ENGINES = ("sd15", "wan22-ti2v")
WORK = REPO_ROOT / "build" / "bench-film"
TINY_MODELS = REPO_ROOT / "build" / "tiny-models"
REPORT_ENCODER = "longform-tiny-clip.safetensors"
VIDEO_CHUNK, VIDEO_OVERLAP = 9, 5  # Wan 2.2 pins 1 + (K - 1) // 4 latent frames of a K-frame start: K = 5 stays whole
# Wan's text encoder (umt5-xxl) is built at 5.7 B parameters whatever its file holds: on the tiny models that one step
# is the tests' LFTest_WanTextEncode (scripts/tiny_profile.py with_test_text_encoder), linked into the bench's servers.
TEST_NODES = REPO_ROOT / "tests" / "comfy_test_nodes"


# ------------------------------------------------------------------------------------------------------ storyboard


def engine_problem(engine: str) -> str | None:
    """Why this checkout cannot render `engine` (its storyboard has no `engine` field, or does not list it); None
    when it can."""
    from longform_pack.core.film.storyboard import FILM_FIELDS

    rule = FILM_FIELDS.get("engine")
    if rule is None:
        if engine == DEFAULT_ENGINE:
            return None  # a storyboard without engines renders SD 1.5 units only
        return (f"--engine {engine}: this checkout's storyboard has no `engine` field (core/film/storyboard.py "
                f"FILM_FIELDS), so it renders {DEFAULT_ENGINE} only. The {engine} engine comes with the film-templates "
                "and film-wan branches; run this again once they are merged.")
    if rule.choices and engine not in rule.choices:
        return f"--engine {engine}: the storyboard knows the engines {', '.join(rule.choices)}."
    return None


def engine_field(engine: str) -> bool:
    """Whether the storyboard gets an `engine:` line; SystemExit saying what to do when `engine` cannot render here."""
    from longform_pack.core.film.storyboard import FILM_FIELDS

    problem = engine_problem(engine)
    if problem is not None:
        raise SystemExit(problem)
    return "engine" in FILM_FIELDS


def storyboard_text(engine: str, scene_seconds: float, title: str) -> str:
    """SCENES equal, independent scenes of `scene_seconds` joined by cuts, at FPS and SIZE. SD 1.5: each scene from a
    sketch with the character locked, the tiny models' filenames; other engines: prompts only, the engine's own
    template models (the plan maps them to the tiny stand-ins)."""
    from longform_pack.core.manifest import load_manifest

    prompts = ["a yellow creature in a sunny forest", "a yellow creature in a storm", "a yellow creature in a town",
               "a yellow creature on a beach"]
    head = f"title: {title}\nfps: {FPS}\nwidth: {SIZE}\nheight: {SIZE}\n"
    if engine_field(engine):
        head += f"engine: {engine}\n"
    scenes = []
    if engine == "sd15":
        tiny = {entry.id: entry.tiny_filename for entry in load_manifest()}
        head += (f"render: {{steps: 2, strength: 0.5}}\n"
                 f"models: {{checkpoint: {tiny['sd15']}, controlnet: {tiny['controlnet_scribble']}, "
                 f"lora: {tiny['lora_pokemon']}, ipadapter: {tiny['ipadapter_plus_sd15']}, "
                 f"clip_vision: {tiny['clip_vision_h']}}}\n"
                 "characters:\n  creature: {reference: longform_character.png}\n")
        for index in range(SCENES):
            scenes.append(f"  - {{name: scene{index + 1}, duration: {scene_seconds}, sketch: longform_sketch.png, "
                          f"character: creature, seed: {index + 1}, schedule: \"0: {prompts[index]}\"}}")
    else:
        # Video engines: every scene starts from a picture (no sd15 keyframe unit) and runs chunk by chunk.
        head += f"video: {{chunk: {VIDEO_CHUNK}, overlap: {VIDEO_OVERLAP}, steps: 2}}\n"
        for index in range(SCENES):
            scenes.append(f"  - {{name: scene{index + 1}, duration: {scene_seconds}, seed: {index + 1}, "
                          f"keyframe: longform_character.png, schedule: \"0: {prompts[index]}\"}}")
    return head + "scenes:\n" + "\n".join(scenes) + "\n"


def describe(engine: str, scene_seconds: float) -> str:
    chunks = "" if engine == "sd15" else (f", chunks of {VIDEO_CHUNK} frames overlapping by {VIDEO_OVERLAP}, Wan's text "
                                          "encoding by the test-only node (umt5-xxl cannot be tiny)")
    return (f"{engine}, {SCENES} equal independent scenes of {scene_seconds:g} s with cuts, {FPS} fps, {SIZE}x{SIZE}, "
            f"2 sampler steps a frame, tiny models{chunks}")


# ------------------------------------------------------------------------------------------------------------ plan


def load_plan(engine: str, scene_seconds: float, title: str):
    """Write the storyboard into the bench's input folder and plan it (tiny stand-ins' filenames)."""
    from _pack import load_pack

    pack = load_pack()
    from longform_pack.core import host
    from longform_pack.core.film.plan import FilmPlan
    from longform_pack.core.film.storyboard import load_storyboard

    from tiny_profile import with_test_text_encoder, with_tiny_models

    input_dir = WORK / "input"
    (input_dir / f"{title}.yaml").write_text(storyboard_text(engine, scene_seconds, title), encoding="utf-8")
    host.set_models_dir(TINY_MODELS)  # the unit keys hash the model files the units load
    rename = with_tiny_models if engine == "sd15" else (lambda workflow: with_tiny_models(
        with_test_text_encoder(workflow)))
    return FilmPlan(load_storyboard(input_dir / f"{title}.yaml", input_dir), WORK / "output",
                    pack.NODE_CLASS_MAPPINGS, rename=rename)


def schedule_seconds(plan, unit_seconds: dict[str, float], servers: int) -> float:
    """The plan's render time on `servers` when unit u takes unit_seconds[u] and units go, in plan order, to the first
    free server once their dependencies are done (as FilmRun hands them out)."""
    free, done = [0.0] * servers, {}
    todo = [unit for unit in plan.units.values() if unit.kind != "stitch"]
    while todo:
        server = min(range(servers), key=free.__getitem__)
        ready = [u for u in todo if all(dep in done for dep in u.deps)]
        start = max(free[server], min(max([done[d] for d in u.deps], default=0.0) for u in ready))
        unit = next(u for u in ready if max([done[d] for d in u.deps], default=0.0) <= start)
        done[unit.id] = free[server] = start + unit_seconds[unit.id]
        todo.remove(unit)
    return max(done.values())


def critical_path_seconds(plan, unit_seconds: dict[str, float]) -> float:
    """The longest chain of dependent units: no number of servers renders the plan faster."""
    finish: dict[str, float] = {}
    for unit in plan.units.values():  # plan order: every unit after its dependencies
        if unit.kind != "stitch":
            finish[unit.id] = unit_seconds[unit.id] + max([finish[d] for d in unit.deps], default=0.0)
    return max(finish.values())


def unit_overheads(plan, unit_seconds: dict[str, float]) -> list[float]:
    """Per animated unit: its wall time less its frames at the steady per-frame time (from the frames' write times):
    model loads, /free and graph set-up."""
    overheads = []
    for unit in plan.units.values():
        if unit.kind != "animate" or unit.frames < 3:
            continue
        first, last = (plan.frame_path(unit.id, index).stat().st_mtime for index in (0, unit.frames - 1))
        per_frame = (last - first) / (unit.frames - 1)
        overheads.append(unit_seconds[unit.id] - unit.frames * per_frame)
    return overheads


# -------------------------------------------------------------------------------------------------------- one run


class TimedWorker:
    """A worker that records each unit's wall time (queue to outputs, the server's model loads included)."""

    def __init__(self, worker, unit_of_workflow: dict[int, str], seconds: dict[str, float]):
        self.worker, self.name = worker, worker.name
        self._unit_of_workflow, self._seconds = unit_of_workflow, seconds

    def run(self, workflow: dict) -> dict:
        began = time.perf_counter()
        outputs = self.worker.run(workflow)
        self._seconds[self._unit_of_workflow[id(workflow)]] = time.perf_counter() - began
        return outputs


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_once(engine: str, scene_seconds: float, servers: int, use_ray: bool, kill: bool, title: str) -> dict:
    """Start the servers, render one film, stitch and report it, in this process; its figures."""
    from _pack import load_pack

    load_pack()
    from longform_pack.core import host
    from longform_pack.core.film.render import finish_film

    from film import FilmRun
    from film_servers import ManagedServer, RayWorker, ServerWorker, server_actors, start_ray, stop_servers

    shutil.rmtree(WORK / "output" / "film" / title, ignore_errors=True)
    plan = load_plan(engine, scene_seconds, title)
    settings = {"comfyui_dir": Path(os.environ["COMFYUI_DIR"]), "models_dir": TINY_MODELS,
                "input_dir": WORK / "input", "output_dir": WORK / "output", "custom_nodes": (TEST_NODES,)}
    started, actors, killed, unit_seconds = [], [], {}, {}
    unit_of_workflow = {id(unit.workflow): unit.id for unit in plan.units.values() if unit.workflow is not None}
    try:
        began = time.perf_counter()
        if use_ray:
            start_ray()
            actors = server_actors(servers, settings)
            workers = [RayWorker(actor, f"ray-{index}") for index, actor in enumerate(actors)]
            pids = [_ray_get(actor.pid.remote()) for actor in actors]
        else:
            with ThreadPoolExecutor(servers) as pool:  # in parallel, as a cluster would start them
                started = list(pool.map(lambda _: ManagedServer(**settings).start(), range(servers)))
            workers = [ServerWorker(server.url, f"server-{index}") for index, server in enumerate(started)]
            pids = [server.pid for server in started]
        start_s = time.perf_counter() - began
        run = FilmRun(plan, [TimedWorker(worker, unit_of_workflow, unit_seconds) for worker in workers],
                      progress_every=15)
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
        finish_film(plan, REPORT_ENCODER)
        finish_s = time.perf_counter() - began
    finally:
        stop_servers(started, actors)
    return {"engine": engine, "minutes": round(plan.board.seconds / 60, 2), "film_seconds": plan.board.seconds,
            "frames": plan.board.frame_count, "servers": servers, "ray": use_ray,
            "server_start_s": round(start_s, 1), "render_s": round(render_s, 1),
            "stitch_and_report_s": round(finish_s, 1), "total_s": round(start_s + render_s + finish_s, 1),
            "seconds_per_frame": round(render_s / plan.rendered_frames, 3),
            "unit_s": {unit_id: round(seconds, 2) for unit_id, seconds in unit_seconds.items()},
            "unit_overhead_s": [round(value, 2) for value in unit_overheads(plan, unit_seconds)] if not kill else [],
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


def _subprocess(engine: str, scene_seconds: float, servers: int, title: str, use_ray: bool = False,
                kill: bool = False) -> dict:
    command = [sys.executable, __file__, "--one", str(scene_seconds), "--servers", str(servers), "--title", title,
               "--engine", engine] + (["--ray"] if use_ray else []) + (["--kill"] if kill else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LONGFORM_PROGRESS": "0"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{title} failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{title}: start {figures['server_start_s']} s, render {figures['render_s']} s, stitch and report "
          f"{figures['stitch_and_report_s']} s, total {figures['total_s']} s", flush=True)
    return figures


def _same_frames(title: str, reference: str) -> bool:
    """Every frame of film `title` equal to film `reference`'s (the same storyboard but for the title)."""
    import numpy as np
    from PIL import Image

    ours = sorted((WORK / "output" / "film" / title).rglob("frame_*.png"))
    theirs = sorted((WORK / "output" / "film" / reference).rglob("frame_*.png"))
    if not ours or [p.relative_to(WORK / "output" / "film" / title) for p in ours] != [
            p.relative_to(WORK / "output" / "film" / reference) for p in theirs]:
        return False
    return all(np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))) for a, b in zip(ours, theirs))


# -------------------------------------------------------------------------------------------------------- figures


def comparison(engine: str, scene_seconds: float, repeats: int) -> dict:
    """`repeats` interleaved pairs of 1-server and 2-server films: measured and predicted ratios, fixed costs."""
    ones, twos = [], []
    for _ in range(repeats):
        ones.append(_subprocess(engine, scene_seconds, 1, "bench-1server"))
        twos.append(_subprocess(engine, scene_seconds, 2, "bench-2servers"))
    plan = load_plan(engine, scene_seconds, "bench-1server")
    predicted, critical, scheduled = [], [], []
    for one in ones:
        fixed = one["server_start_s"] + one["stitch_and_report_s"]
        critical.append(critical_path_seconds(plan, one["unit_s"]))
        scheduled.append(schedule_seconds(plan, one["unit_s"], 2))
        predicted.append((fixed + scheduled[-1]) / (fixed + schedule_seconds(plan, one["unit_s"], 1)))
    measured = ratio_spread([two["total_s"] for two in twos], [one["total_s"] for one in ones])
    render_ratio = ratio_spread([two["render_s"] for two in twos], [one["render_s"] for one in ones])
    film_seconds = ones[0]["film_seconds"]
    overheads = [value for one in ones for value in one["unit_overhead_s"]]
    return {
        "storyboard": describe(engine, scene_seconds),
        "engine": engine,
        "repeats": repeats,
        "runs": {"one_server": ones, "two_servers": twos},
        "measured_ratio": measured,
        "predicted_ratio": spread(predicted),
        "vs_goal": against_bar(measured, GOAL),
        "render_ratio": render_ratio,
        "critical_path_s": spread(critical, 1),
        "schedule_two_servers_s": spread(scheduled, 1),
        "fixed_costs_s": {
            "server_start": spread([one["server_start_s"] for one in ones], 1),
            "server_start_two_in_parallel": spread([two["server_start_s"] for two in twos], 1),
            "stitch_and_report": spread([one["stitch_and_report_s"] for one in ones], 1),
            "unit_overhead": spread(overheads, 1) if overheads else (
                "not separable: a chunk decodes and writes all its frames at its end"),
        },
        "render_s_per_film_s": spread([one["render_s"] / film_seconds for one in ones], 2),
        "total_s_per_film_s": spread([one["total_s"] / film_seconds for one in ones], 2),
        "frames_identical_two_servers": _same_frames("bench-2servers", "bench-1server"),
    }


def render_rate(engine: str, repeats: int) -> dict | str:
    """Seconds of render per second of film on 1 server for another engine, over `repeats` films; or why this
    checkout cannot render it."""
    problem = engine_problem(engine)
    if problem is not None:
        print(f"  {engine}: not measured: {problem}")
        return f"not measured: {problem}"
    runs = [_subprocess(engine, SCENE_SECONDS, 1, f"bench-{engine}") for _ in range(repeats)]
    print(f"  film: {describe(engine, SCENE_SECONDS)}")
    film_seconds = runs[0]["film_seconds"]
    rate = {"film": describe(engine, SCENE_SECONDS), "render_s_per_film_s": spread([run["render_s"] / film_seconds for run in runs], 2),
            "total_s_per_film_s": spread([run["total_s"] / film_seconds for run in runs], 2), "runs": runs}
    print(f"  seconds of render per second of film ({engine}, 1 server): "
          f"{format_spread(rate['render_s_per_film_s'], 2)} render only, "
          f"{format_spread(rate['total_s_per_film_s'], 2)} with the fixed costs")
    return rate


def print_comparison(result: dict) -> None:
    fixed = result["fixed_costs_s"]
    print(f"film: {result['storyboard']}; {result['repeats']} interleaved pairs; median (min-max)")
    print(f"  fixed costs: server start {format_spread(fixed['server_start'], 1)} s (two in parallel "
          f"{format_spread(fixed['server_start_two_in_parallel'], 1)} s), stitch and report "
          f"{format_spread(fixed['stitch_and_report'], 1)} s; per unit, model loads and set-up "
          f"{_seconds_or_reason(fixed['unit_overhead'])}")
    print(f"  plan: critical path {format_spread(result['critical_path_s'], 1)} s, 2-server schedule "
          f"{format_spread(result['schedule_two_servers_s'], 1)} s (from the 1-server unit times)")
    print(f"  2 servers / 1 server, whole film: predicted {format_spread(result['predicted_ratio'])} (critical-path "
          f"schedule + fixed costs), measured {format_spread(result['measured_ratio'])}; against the {GOAL} goal: "
          f"{result['vs_goal']}; render only {format_spread(result['render_ratio'])}")
    print(f"  seconds of render per second of film ({result['engine']}, 1 server): "
          f"{format_spread(result['render_s_per_film_s'], 2)} render only, "
          f"{format_spread(result['total_s_per_film_s'], 2)} with the fixed costs")
    print(f"  frames identical on 1 and 2 servers: {result['frames_identical_two_servers']}")


def _seconds_or_reason(figure) -> str:
    return figure if isinstance(figure, str) else f"{format_spread(figure, 1)} s"


def prepare() -> None:
    """The tiny models (from the cache when built before) and the storyboard's pictures in the input folder."""
    from _pack import load_pack

    load_pack()
    from longform_pack.core import tiny

    tiny.build_all(TINY_MODELS)
    (WORK / "input").mkdir(parents=True, exist_ok=True)
    for name in ("longform_sketch.png", "longform_character.png"):
        shutil.copy(REPO_ROOT / "example_inputs" / name, WORK / "input" / name)


def main(quick: bool = False, engine: str = DEFAULT_ENGINE, repeats: int = MIN_REPEATS) -> dict:
    """Every run; the figures for bench/results.json (`quick`: one short pair, figures not for results.json)."""
    if not os.environ.get("COMFYUI_DIR"):
        raise SystemExit("set COMFYUI_DIR to a ComfyUI work tree (v0.3.64) to run the film benchmark")
    if not quick and repeats < MIN_REPEATS:
        raise SystemExit(f"--repeats {repeats}: at least {MIN_REPEATS}, or the spread does not show the noise")
    prepare()
    engine_field(engine)  # an engine this checkout cannot render stops here, before any server starts
    if quick:
        result = comparison(engine, QUICK_SCENE_SECONDS, 1)
        print_comparison(result)
        return {"film": describe(engine, QUICK_SCENE_SECONDS), "one_vs_two": result}
    result = comparison(engine, COMPARISON_SCENE_SECONDS, repeats)
    print_comparison(result)
    per_engine = {engine: {"render_s_per_film_s": result["render_s_per_film_s"],
                           "total_s_per_film_s": result["total_s_per_film_s"]}}
    for other in ENGINES:
        if other != engine:
            per_engine[other] = render_rate(other, repeats)
    lengths = [_subprocess(engine, minutes * 60 / SCENES, 1, f"bench-{minutes}min") for minutes in (1, 2, 4)]
    kill_seconds, kill_reference = (COMPARISON_SCENE_SECONDS, "bench-1server") if engine == KILL_ENGINE else (
        SCENE_SECONDS, f"bench-{KILL_ENGINE}")  # the 1-server film of the same storyboard
    ray_killed = _subprocess(KILL_ENGINE, kill_seconds, 2, "bench-ray-killed", use_ray=True, kill=True)
    return {
        "film": describe(engine, COMPARISON_SCENE_SECONDS),
        "one_vs_two": result,
        "seconds_of_render_per_second_of_film": per_engine,
        "by_length_one_server": lengths,
        "two_servers_ray_one_killed": ray_killed,
        "frames_identical_after_kill_ray": _same_frames("bench-ray-killed", kill_reference),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default=DEFAULT_ENGINE, choices=ENGINES, help="the storyboard's engine")
    parser.add_argument("--quick", action="store_true", help="one short pair of films, to check the script")
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS, help="pairs of 1- and 2-server films")
    parser.add_argument("--one", type=float, help="(internal) render one film of scenes this many seconds long")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--title", default="bench")
    args = parser.parse_args()
    if args.one is None:
        print(json.dumps(main(args.quick, args.engine, args.repeats), indent=1))
    else:
        print(json.dumps(render_once(args.engine, args.one, args.servers, args.ray, args.kill, args.title)))
