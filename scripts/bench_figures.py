"""Write the benchmark tables of README.md and docs/*.md from bench/results.json, so text and figures cannot drift.

A table lives between marker comments, `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; NAME is one of BLOCKS. The
prose around the markers is the author's; what lies between them is this script's. Every table names the commit and
date its section was measured at (its provenance in bench/results.json).

    python scripts/bench_figures.py            # rewrite the tables
    python scripts/bench_figures.py --check    # write nothing; exit 1 naming each file that differs (tests run it)

A timing figure is shown as its median and min-max over its repeats, with its verdict: "noise" when the bar (or 1.0,
the same speed) lies inside the spread. Sections measured before spreads were recorded show the best (minimum) and
say the spread was not recorded; where a path's own best-to-median gap is wider than the difference, that is noise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results.json"
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _timing import format_spread, spread  # noqa: E402

MARKER = re.compile(r"(<!-- bench:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.DOTALL)
# The sections README's table has rows for; a new bench's section shows there once summary_block writes its rows.
SUMMARY_SECTIONS = ("probe", "stylize", "identity", "animate", "memory", "ddpm", "film", "meter")
# The from-scratch DDPM baseline and bars (what the figures are compared with; not measured here).
DDPM_BASELINE = {"accuracy_g1": 0.946, "accuracy_g3": 1.0, "nearest_distance": 15.7, "real_distance": 17.1,
                 "digits_per_second": 34.0, "train_seconds": 240}


# ------------------------------------------------------------------------------------------------------ provenance


def measured_at(section: dict) -> str:
    """'commit 4456eea, 2026-11-30, Intel(R) Xeon(R) Processor, 2 cores': where and when a section was measured."""
    provenance = section["provenance"]
    commit = provenance["commit"]
    text = "commit unknown" if commit == "unknown" else f"commit {commit[:7]}" + (
        " (uncommitted changes)" if provenance["dirty"] is True else "")
    date = provenance["date"]
    text += ", date unknown" if date == "unknown" else f", {date[:10]}"
    machine = provenance["machine"]
    if isinstance(machine, dict):
        text += f", {machine['cpu']}, {machine['cores']} cores" + (f", {machine['gpu']}" if machine["gpu"] else "")
    load = provenance["load_average_1min"]
    if load["start"] != "unknown":
        text += f", load {load['start']:g} → {load['end']:g}"
    return text


def caption(section: dict) -> str:
    return f"*Measured at {measured_at(section)} (bench/results.json).*"


# -------------------------------------------------------------------------------------------------- figure helpers


def ratio_cell(row: dict, reference: dict, bar: float | None = None) -> str:
    """A path's ratio to its reference path: the spread and its verdict, or, for a section measured before spreads,
    the best and a noise verdict from the paths' own best-to-median gaps."""
    if isinstance(row.get("ratio"), dict):
        return f"{format_spread(row['ratio'])}: {row['vs_reference'] if bar is None else row['vs_bar']}"
    unit = next(key for key in row if key.startswith("seconds_per_"))
    best, best_reference = row[unit], reference[unit]
    ratio = best / best_reference
    gap = max(row[f"median_{unit}"] / best, reference[f"median_{unit}"] / best_reference) - 1
    compared = 1.0 if bar is None else bar
    if abs(ratio - compared) < gap:
        verdict = "noise" if bar is None else f"noise against ≤ {bar:g}"
    elif bar is None:
        verdict = "faster" if ratio < 1.0 else "slower"
    else:
        verdict = f"meets ≤ {bar:g}" if ratio <= bar else f"misses ≤ {bar:g}"
    return f"{ratio:.3f} (best; no spread recorded, best-to-median up to {100 * gap:.1f}%): {verdict}"


def seconds_cell(row: dict) -> str:
    unit = next(key for key in row if key.startswith("seconds_per_"))
    value = row[unit]
    if isinstance(value, dict):
        return f"{format_spread(value)} s"
    return f"{value:.3f} s best, {row[f'median_{unit}']:.3f} s median"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# ---------------------------------------------------------------------------------------------------------- blocks


def probe_block(results: dict) -> str:
    section = results["sections"]["probe"]
    figures = section["figures"]
    rows = []
    for row in figures["rows"]:
        ratio = format_spread(row["ratio"]) + f": {row['vs_bar']}" if isinstance(row["ratio"], dict) else (
            f"{row['ratio']:.3f} (spread not recorded)")
        rows.append([row["name"], str(row["items"]), f"{row['node_per_s']:.2f}", f"{row['direct_per_s']:.2f}", ratio,
                     f"{row['max_abs_difference']:g}"])
    return table(["model", "batch", "node / s", "direct / s", "ratio node / direct", "max abs diff"], rows) + (
        f"\n\n{caption(section)} Median of {figures['repeats']} interleaved runs on {figures['device']}.")


def timed(figures: dict, key: str, digits: int) -> str:
    """A timing figure: its spread when the section recorded one (`<key>_spread`), else its one value."""
    if f"{key}_spread" in figures:
        return format_spread(figures[f"{key}_spread"], digits)
    return f"{figures[key]:.{digits}f}"


def ddpm_block(results: dict) -> str:
    section = results["sections"]["ddpm"]
    f, base = section["figures"], DDPM_BASELINE
    rows = [
        ["training time", f"{base['train_seconds']} s", f"**{timed(f, 'train_seconds', 1)} s**",
         "≤ 180 s" + ("" if f["train_seconds"] <= 180 else ": **not met**")],
        ["judged accuracy, guidance 0", "–", f"{100 * f['accuracy_g0']:.1f}% (chance: the labels are ignored)",
         "–"],
        ["judged accuracy, guidance 1", f"{100 * base['accuracy_g1']:.1f}%", f"**{100 * f['accuracy_g1']:.1f}%**",
         "≥ 96%"],
        ["judged accuracy, guidance 3", f"{100 * base['accuracy_g3']:.0f}%", f"**{100 * f['accuracy_g3']:.1f}%**",
         "≥ 99%"],
        ["judged accuracy, guidance 5", "–", f"{100 * f['accuracy_g5']:.1f}%", "–"],
        ["nearest training digit: g=1 samples / real held-out",
         f"{base['nearest_distance']} / {base['real_distance']} "
         f"({base['nearest_distance'] / base['real_distance']:.2f})",
         f"**{f['nearest_distance_g1']} / {f['real_nearest_distance']} ({f['diversity_ratio']:.3f})**", "≥ 0.95"],
        ["1,000 digits DDIM-50, guidance 1", "–",
         f"**{timed(f, 'ddim50_seconds_1000_g1', 2)} s** ({f['digits_per_second_g1']:.0f} digits/s)",
         "≤ 10 s: " + ("met" if f["ddim50_seconds_1000_g1"] <= 10 else "**not met**")],
        ["1,000 digits DDIM-50, guidance 3", f"{base['digits_per_second']:g} digits/s",
         f"{timed(f, 'ddim50_seconds_1000_g3', 2)} s ({f['digits_per_second_g3']:.0f} digits/s)",
         "≤ 10 s: " + ("met" if f["ddim50_seconds_1000_g3"] <= 10 else "**not met**")],
    ]
    return table(["figure", "from-scratch baseline (issue)", "this model", "bar"], rows) + (
        f"\n\n{caption(section)} The judge: {100 * f['judge_held_out_accuracy']:.1f}% on the real held-out digits; "
        f"{_runs(f.get('train_seconds_spread', {'n': 1})['n'], 'training run')} ({f['machine']}).")


def _runs(count: int, noun: str) -> str:
    return f"one {noun}" if count == 1 else f"{count} {noun}s"


def identity_block(results: dict) -> str:
    section = results["sections"]["identity"]
    paths = section["figures"]["paths"]
    rows = []
    for name, row in paths.items():
        ratio = "1 (the reference)" if name == "unpatched" else ratio_cell(row, paths["unpatched"])
        lock = "-" if row["lock_node_seconds"] is None else seconds_text(row["lock_node_seconds"])
        rows.append([name, seconds_cell(row), ratio, lock])
    return table(["path", "CPU s / image", "ratio to unpatched", "lock node (CPU s)"], rows) + f"\n\n{caption(section)}"


def seconds_text(value) -> str:
    return f"{format_spread(value)}" if isinstance(value, dict) else f"{value:.2f}"


def film_block(results: dict) -> str:
    section = results["sections"]["film"]
    figures = section["figures"]
    runs = [*figures["by_length_one_server"]]
    rows = [[f"{_minutes(run['minutes'])}, 1 server", str(run["frames"]),
             f"{run['render_s']} s", f"{run['renderer_peak_rss_mb']} MB", f"{run['server_peak_rss_mb'][0]} MB"]
            for run in runs]
    killed = figures["two_servers_ray_one_killed"]
    ray_label = f"2 Ray servers ({killed.get('engine', 'sd15')}), one killed" + (
        f" after {killed['killed']['after_frames']} frames of `{killed['killed']['unit']}`" if killed["killed"] else "")
    extra = [(f"{_minutes(figures['two_servers']['minutes'])}, 2 servers", figures["two_servers"])] if (
        "two_servers" in figures) else []
    for label, run in extra + [(f"{_minutes(killed['minutes'])}, {ray_label}", killed)]:
        peaks = ", ".join("killed" if peak is None else f"{peak} MB" for peak in run["server_peak_rss_mb"])
        rows.append([label, str(run["frames"]), f"{run['render_s']} s", f"{run['renderer_peak_rss_mb']} MB", peaks])
    text = table(["run", "frames", "render", "renderer peak RSS", "server peak RSS"], rows)
    return (f"{text}\n\n- Film: {figures['film']}.\n{film_ratio_text(figures)}\n- Frames identical to the 1-server "
            f"film's: 2 servers; 2 Ray servers, one killed: {film_identical(figures)}.\n\n{caption(section)} "
            "Memory and the killed run: one run each.")


def _minutes(minutes: float) -> str:
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def film_identical(figures: dict) -> str:
    """Whether the 2-server film and the film whose Ray server was killed have the 1-server film's frames."""
    two = figures["one_vs_two"]["frames_identical_two_servers"] if "one_vs_two" in figures else figures[
        "frames_identical_two_servers"]
    return f"{'yes' if two else '**no**'}; {'yes' if figures['frames_identical_after_kill_ray'] else '**no**'}"


def film_ratio_text(figures: dict) -> str:
    """The 2-server / 1-server lines: measured and predicted with fixed costs, or the old scheduled figure."""
    if "one_vs_two" not in figures:
        return (f"- Render wall time, 2 servers / 1 server (servers already started, stitch not counted): "
                f"{figures['wall_ratio_two_to_one_server']:.3f}, one run each; the plan's schedule alone predicted "
                f"{figures['scheduled_ratio_two_to_one_server']:.3f}, **without** the fixed costs (server start, "
                f"model loads, stitch and report). Spread not recorded.")
    comparison = figures["one_vs_two"]
    fixed = comparison["fixed_costs_s"]
    lines = [
        f"- Whole film, 2 servers / 1 server (start, render, stitch and report): measured "
        f"{format_spread(comparison['measured_ratio'])}; predicted from the plan's critical path plus the fixed "
        f"costs {format_spread(comparison['predicted_ratio'])}; against the 0.55 goal: {comparison['vs_goal']}.",
        f"- Fixed costs a film pays once: server start {format_spread(fixed['server_start'], 1)} s, stitch and "
        f"report {format_spread(fixed['stitch_and_report'], 1)} s; per unit: model loads and set-up "
        + (fixed["unit_overhead"] if isinstance(fixed["unit_overhead"], str) else
           f"{format_spread(fixed['unit_overhead'], 1)} s") + ".",
    ]
    lines.append(f"- Render only, 2 servers / 1 server: {format_spread(comparison['render_ratio'])}.")
    for engine, rate in film_rates(figures).items():
        measured = rate if isinstance(rate, str) else (
            f"{format_spread(rate['render_s_per_film_s'], 2)} (render only), "
            f"{format_spread(rate['total_s_per_film_s'], 2)} (with the fixed costs).")
        lines.append(f"- Seconds of render per second of film ({engine}, 1 server): {measured}")
    return "\n".join(lines)


def film_rates(figures: dict) -> dict:
    """Seconds of render per second of film by engine: a figure, or the reason it was not measured."""
    comparison = figures["one_vs_two"]
    return figures.get("seconds_of_render_per_second_of_film", {comparison["engine"]: comparison})


def meter_block(results: dict) -> str:
    """docs/meter.md's table: the full report's speed, and peak memory against the video's length."""
    section = results["sections"]["meter"]
    figures = section["figures"]
    full, light = figures["full_report"], figures["without_raft_amt"]
    long_seconds = round(full["long"]["frames"] / figures["fps"])
    repeats = spread([run["peak_rss_mib"] for run in full["runs"]], 0)
    rows = [[f"full report (every metric), {full['seconds']} s", str(full["runs"][0]["frames"]),
             format_spread(full["frames_per_second"], 2), format_spread(repeats, 0)],
            [f"full report (every metric), {long_seconds} s", str(full["long"]["frames"]),
             f"{full['long']['frames_per_second']:.2f}, one run", f"{full['long']['peak_rss_mib']:.0f}"]]
    for label, run in light["runs"].items():
        rows.append([f"without RAFT and AMT-S, {label}", str(run["frames"]), f"{run['frames_per_second']:.1f}, one run",
                     f"{run['peak_rss_mib']:.0f}"])
    growth = light["peak_rss_growth"]
    inside = repeats["min"] <= full["long"]["peak_rss_mib"] <= repeats["max"]
    return (table(["report", "frames", "frames/s (measuring; load apart)", "peak RSS MiB"], rows) +
            f"\n\n{figures['size']}x{figures['size']} frames at {figures['fps']:g} fps; tiny DINO and CLIP stand-ins, "
            f"RAFT-large and AMT-S at full size with random weights; {figures['threads']} threads; a fresh process "
            f"each. Peak memory, {list(light['runs'])[-1]} against {list(light['runs'])[0]}: {growth:+.1%} (goal: "
            f"within 10%: {'met' if abs(growth) <= 0.10 else '**not met**'}). The full report's peak at {long_seconds} s "
            f"is {'inside' if inside else 'outside'} the spread of its {full['seconds']}-s runs"
            f"{' (noise)' if inside else ''}.\n\n{caption(section)}")


def summary_block(results: dict) -> str:
    """README's table: one or more rows per section, each with where and when it was measured."""
    sections = {name: results["sections"][name] for name in SUMMARY_SECTIONS if name in results["sections"]}
    rows = []

    def add(name: str, figure: str, measured: str, bar: str) -> None:
        rows.append([name, figure, measured, bar, measured_at(sections[name]).split(", ")[0] + ", " + _date(name)])

    def _date(name: str) -> str:
        date = sections[name]["provenance"]["date"]
        return "date unknown" if date == "unknown" else date[:10]

    if "probe" in sections:
        probe = sections["probe"]["figures"]
        cells = [format_spread(r["ratio"]) if isinstance(r["ratio"], dict) else f"{r['ratio']:.3f}"
                 for r in probe["rows"]]
        add("probe", "node path / direct transformers, throughput: " + ", ".join(r["name"] for r in probe["rows"]),
            ", ".join(cells) + " (" + ", ".join(f"{r['node_per_s']:.1f}" for r in probe["rows"]) + " items/s)",
            "≥ 0.9")
    if "stylize" in sections:
        stylize = sections["stylize"]["figures"]
        paths = stylize["paths"]
        add("stylize", f"LF Stylize / the core chain it stands for, tiny models, {stylize['size']}x{stylize['size']}, "
            f"{stylize['steps']} steps (CPU time)",
            ratio_cell(paths["LF Stylize"], paths["core chain"], 1.05) + (
                "; same pixels" if stylize["identical_to_core_chain"] else "; **pixels differ**"), "≤ 1.05")
    if "identity" in sections:
        paths = sections["identity"]["figures"]["paths"]
        for name in ("base", "plus", "faceid"):
            add("identity", f"core KSampler on the {name}-locked MODEL / on the unpatched MODEL (CPU time)",
                ratio_cell(paths[name], paths["unpatched"]), "measured")
    if "animate" in sections:
        animate = sections["animate"]["figures"]
        paths = animate["paths"]
        core = paths["core KSampler img2img"]
        add("animate", "LF Animate per frame / core KSampler img2img of the same frame, switches off (the same work)",
            ratio_cell(paths["LF Animate, switches off"], core, animate["bar"]) +
            f"; largest pixel difference {animate['max_pixel_difference_vs_core']} of 255", f"≤ {animate['bar']:g}")
        add("animate", "the same, switches on (more work: cross-frame attention, colour match, shared noise)",
            ratio_cell(paths["LF Animate, switches on"], core), "measured")
    if "memory" in sections:
        memory = sections["memory"]["figures"]
        native, old = memory["peak_rss_mib"].values()
        add("memory", "peak RSS of the sketch_to_video chain, fresh process: native / " +
            list(memory["peak_rss_mib"])[1], f"{native:.0f} MiB / {old:.0f} MiB "
            f"({memory['ratio_native_vs_diffusers']:.3f}), one run each", "lower")
    if "ddpm" in sections:
        ddpm = sections["ddpm"]["figures"]
        add("ddpm", f"training, default recipe ({ddpm['train_steps']} steps), wall",
            f"{timed(ddpm, 'train_seconds', 1)} s", "≤ 180 s")
        add("ddpm", "judged accuracy at guidance 0 / 1 / 3 / 5",
            " / ".join(f"{100 * ddpm[f'accuracy_g{g}']:.1f}%" for g in (0, 1, 3, 5)), "g1 ≥ 96%, g3 ≥ 99%")
        add("ddpm", "nearest training digit, g=1 samples / real held-out digits",
            f"{ddpm['nearest_distance_g1']} / {ddpm['real_nearest_distance']} = {ddpm['diversity_ratio']:.3f}",
            "≥ 0.95")
        add("ddpm", "1,000 digits with DDIM-50, guidance 1 / 3",
            f"{timed(ddpm, 'ddim50_seconds_1000_g1', 2)} s / {timed(ddpm, 'ddim50_seconds_1000_g3', 2)} s", "≤ 10 s")
    if "film" in sections:
        film = sections["film"]["figures"]
        if "one_vs_two" in film:
            comparison = film["one_vs_two"]
            add("film", "whole film, 2 servers / 1 server (fixed costs included): measured; predicted",
                f"{format_spread(comparison['measured_ratio'])}; {format_spread(comparison['predicted_ratio'])}",
                "≤ 0.55")
            for engine, rate in film_rates(film).items():
                add("film", f"seconds of render per second of film, {engine}, 1 server",
                    rate if isinstance(rate, str) else format_spread(rate["render_s_per_film_s"], 2), "measured")
        else:
            add("film", "render wall, 2 servers / 1 server, servers started, stitch not counted; plan's schedule",
                f"{film['wall_ratio_two_to_one_server']:.3f}, one run; {film['scheduled_ratio_two_to_one_server']:.3f}"
                " without fixed costs", "measured")
        add("film", "frames identical to the 1-server film's: 2 servers; 2 Ray servers, one killed mid-scene",
            film_identical(film), "identical")
        peaks = [str(run["renderer_peak_rss_mb"]) for run in film["by_length_one_server"]]
        add("film", "renderer peak RSS for " + " / ".join(f"{run['minutes']:g}" for run in
                                                         film["by_length_one_server"]) + " minutes of film",
            " / ".join(peaks) + " MB", "flat")
    if "meter" in sections:
        meter = sections["meter"]["figures"]
        light = meter["without_raft_amt"]
        add("meter", f"video report, every metric, {meter['size']}x{meter['size']}, tiny DINO and CLIP, full-size "
            "RAFT and AMT-S, frames per second on CPU", format_spread(meter["full_report"]["frames_per_second"], 2),
            "measured")
        add("meter", "peak RSS for " + " / ".join(light["runs"]) + " of video (without RAFT and AMT-S)",
            " / ".join(f"{run['peak_rss_mib']:.0f}" for run in light["runs"].values()) +
            f" MiB ({light['peak_rss_growth']:+.1%})", "flat within 10%")
    return table(["family", "figure", "measured", "bar", "measured at"], rows)


BLOCKS: dict[str, Callable[[dict], str]] = {
    "summary": summary_block,
    "probe": probe_block,
    "ddpm": ddpm_block,
    "identity": identity_block,
    "film": film_block,
    "meter": meter_block,
}


# ----------------------------------------------------------------------------------------------------------- files


def documents() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def render(text: str, results: dict, source: str = "text") -> str:
    """`text` with every marked block rewritten from `results`; ValueError naming an unknown block."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise ValueError(f"{source}: unknown bench block '{name}'; known: {', '.join(BLOCKS)}")
        return f"{match.group(1)}{BLOCKS[name](results)}\n{match.group(4)}"

    return MARKER.sub(replace, text)


def stale_documents(results: dict) -> list[Path]:
    """The documents whose marked blocks differ from what `results` gives."""
    return [path for path in documents()
            if render(path.read_text(encoding="utf-8"), results, str(path)) != path.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a document differs")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    stale = stale_documents(results)
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO_ROOT)}: its bench tables differ from bench/results.json; run "
                  "python scripts/bench_figures.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(render(path.read_text(encoding="utf-8"), results, str(path)), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
