"""The film bench's prediction: the plan's schedule on N servers and its critical path, from unit times (no servers
run here; the bench measures the unit times)."""

import sys
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))

import bench_film  # noqa: E402


def plan_of(scenes: int, chained: bool = False) -> SimpleNamespace:
    """A plan shaped like FilmPlan's: a keyframe and an animation per scene, then the stitch. `chained`: every
    keyframe needs the previous scene's animation (nothing can run in parallel)."""
    units = {}
    for index in range(scenes):
        deps = (f"animate-{index - 1}",) if chained and index else ()
        units[f"keyframe-{index}"] = SimpleNamespace(id=f"keyframe-{index}", kind="keyframe", deps=deps)
    for index in range(scenes):
        units[f"animate-{index}"] = SimpleNamespace(id=f"animate-{index}", kind="animate", deps=(f"keyframe-{index}",))
    units["stitch"] = SimpleNamespace(id="stitch", kind="stitch", deps=tuple(f"animate-{i}" for i in range(scenes)))
    if chained:  # plan order must put each unit after its dependencies
        order = [key for index in range(scenes) for key in (f"keyframe-{index}", f"animate-{index}")] + ["stitch"]
        units = {key: units[key] for key in order}
    return SimpleNamespace(units=units)


def unit_times(plan, keyframe: float, animate: float) -> dict[str, float]:
    return {unit.id: keyframe if unit.kind == "keyframe" else animate
            for unit in plan.units.values() if unit.kind != "stitch"}


def test_equal_independent_scenes_halve_on_two_servers():
    plan = plan_of(4)
    times = unit_times(plan, 3.0, 20.0)
    one, two = bench_film.schedule_seconds(plan, times, 1), bench_film.schedule_seconds(plan, times, 2)
    assert one == sum(times.values())
    assert two == one / 2
    assert bench_film.critical_path_seconds(plan, times) == 3.0 + 20.0


def test_a_chain_of_scenes_gains_nothing_from_a_second_server():
    plan = plan_of(3, chained=True)
    times = unit_times(plan, 3.0, 20.0)
    assert bench_film.schedule_seconds(plan, times, 2) == bench_film.schedule_seconds(plan, times, 1)
    assert bench_film.critical_path_seconds(plan, times) == sum(times.values())


def test_an_odd_number_of_scenes_leaves_one_server_waiting():
    plan = plan_of(3)
    times = unit_times(plan, 1.0, 10.0)
    two = bench_film.schedule_seconds(plan, times, 2)
    assert bench_film.schedule_seconds(plan, times, 1) / 2 < two <= 2 * (1.0 + 10.0)
