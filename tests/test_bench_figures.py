"""The benchmark figures hold: README and docs say what bench/results.json says, every section carries its own
provenance, `run_all.py --only` rewrites one section only, and a difference inside its spread is called noise."""

import json
import subprocess
import sys
from pathlib import Path

import bench_figures
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))

import _timing  # noqa: E402
import run_all  # noqa: E402

RESULTS = json.loads((REPO_ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
PROVENANCE_KEYS = {"commit", "dirty", "date", "machine", "load_average_1min"}


def test_readme_and_docs_show_what_results_json_says():
    stale = bench_figures.stale_documents(RESULTS)
    assert not stale, f"run python scripts/bench_figures.py: {[str(p.relative_to(REPO_ROOT)) for p in stale]}"


def test_every_marked_block_is_rewritten_from_results():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- bench:summary -->")
    end = readme.index("<!-- /bench:summary -->")
    edited = readme[:start] + "<!-- bench:summary -->\n| a figure typed by hand |\n" + readme[end:]
    assert bench_figures.render(edited, RESULTS) == readme


def test_an_unknown_block_is_refused_by_name():
    with pytest.raises(ValueError, match="'nonsense'"):
        bench_figures.render("<!-- bench:nonsense -->\n<!-- /bench:nonsense -->", RESULTS, "doc.md")


def test_every_section_carries_its_own_provenance():
    for name, section in RESULTS["sections"].items():
        assert PROVENANCE_KEYS <= set(section["provenance"]), name
        assert set(section["provenance"]["load_average_1min"]) == {"start", "end"}, name


@pytest.mark.parametrize("block", sorted(bench_figures.BLOCKS))
def test_each_generated_table_names_its_sections_commit_and_date(block):
    text = bench_figures.BLOCKS[block](RESULTS)
    sections = {name: RESULTS["sections"][name] for name in bench_figures.SUMMARY_SECTIONS} if block == "summary" else {
        block: RESULTS["sections"][block]}
    for section in sections.values():
        provenance = section["provenance"]
        assert provenance["commit"][:7] in text
        assert provenance["date"][:10] in text


def test_a_bar_inside_the_spread_is_noise_and_outside_is_not():
    values = [0.95, 0.97, 0.99, 1.02, 1.04]
    figure = _timing.spread(values)
    assert (figure["median"], figure["min"], figure["max"], figure["n"]) == (0.99, min(values), max(values), 5)
    assert _timing.against_same_speed(figure) == "noise"
    assert _timing.against_bar(figure, 1.05) == "meets ≤ 1.05"
    assert _timing.against_bar(figure, 1.03) == "noise against ≤ 1.03"
    assert _timing.against_bar(_timing.spread([v + 0.2 for v in values]), 1.05) == "misses ≤ 1.05"
    assert _timing.compare(_timing.spread(values[:4]), 2.0) == "too few repeats"


def test_ratio_spread_pairs_the_interleaved_repeats():
    slow, fast = [2.0, 4.0, 3.0, 5.0, 6.0], [1.0, 2.0, 3.0, 5.0, 3.0]
    figure = _timing.ratio_spread(slow, fast)
    assert figure["values"] == [a / b for a, b in zip(slow, fast)]
    with pytest.raises(ValueError, match="paired"):
        _timing.ratio_spread(slow, fast[:3])


def test_a_section_measured_before_spreads_calls_a_gap_wider_than_its_difference_noise():
    faster = {"seconds_per_frame": 0.96, "median_seconds_per_frame": 1.02}
    reference = {"seconds_per_frame": 1.0, "median_seconds_per_frame": 1.05}
    assert bench_figures.ratio_cell(faster, reference).endswith(": noise")
    reference_tight = {"seconds_per_frame": 1.0, "median_seconds_per_frame": 1.001}
    faster_tight = {"seconds_per_frame": 0.96, "median_seconds_per_frame": 0.961}
    assert bench_figures.ratio_cell(faster_tight, reference_tight).endswith(": faster")


@pytest.fixture
def bench_dir(tmp_path, monkeypatch):
    """A bench folder of two fake scripts (one with a quick mode, one without) and a results file of two sections."""
    for name, signature in (("alpha", "quick: bool = False"), ("beta", "")):
        quick = "quick" if signature else "False"
        (tmp_path / f"bench_{name}.py").write_text(
            f"def main({signature}):\n    return {{'value': {len(name)}, 'quick': {quick}}}\n")
    old = {"sections": {"alpha": {"provenance": {"commit": "old-alpha"}, "figures": {"value": 0}},
                        "beta": {"provenance": {"commit": "old-beta"}, "figures": {"value": 0}}}}
    (tmp_path / "results.json").write_text(json.dumps(old))
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(run_all, "QUICK_RESULTS", tmp_path / "quick.json")
    return tmp_path


def test_only_rewrites_its_own_section_and_leaves_the_others_provenance(bench_dir):
    before = json.loads((bench_dir / "results.json").read_text())
    assert run_all.main(["--only", "alpha"]) == 0
    after = json.loads((bench_dir / "results.json").read_text())
    assert after["sections"]["beta"] == before["sections"]["beta"]
    alpha = after["sections"]["alpha"]
    assert alpha["figures"] == {"value": len("alpha"), "quick": False}
    assert PROVENANCE_KEYS <= set(alpha["provenance"]) and alpha["provenance"]["commit"] != "old-alpha"


def test_quick_figures_never_reach_results_json(bench_dir):
    before = (bench_dir / "results.json").read_text()
    assert run_all.main(["--quick"]) == 0
    assert (bench_dir / "results.json").read_text() == before
    quick = json.loads((bench_dir / "quick.json").read_text())["sections"]
    assert quick["alpha"]["figures"]["quick"] is True
    assert "beta" not in quick  # no quick mode: skipped, not run at full length


def test_only_an_unknown_section_is_refused_by_name(bench_dir, capsys):
    with pytest.raises(SystemExit):
        run_all.main(["--only", "gamma"])
    assert "gamma" in capsys.readouterr().err


def test_dirty_means_tracked_changes_other_than_the_results_being_written(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "results.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "start")
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path / "bench")
    (tmp_path / "bench" / "results.json").write_text('{"sections": {}}')
    assert run_all.commit()["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert run_all.commit()["dirty"] is True


def test_a_section_measured_with_spreads_shows_them_and_calls_a_faster_run_that_did_more_work_noise():
    core = [1.70, 1.80, 1.75, 1.72, 1.90]
    times = {"core KSampler img2img": core, "LF Animate, switches off": [t * 1.01 for t in core],
             "LF Animate, switches on": [1.65, 1.85, 1.68, 1.80, 1.76]}
    paths = _timing.path_rows(times, "core KSampler img2img", "frame")
    paths["LF Animate, switches off"]["vs_bar"] = _timing.against_bar(paths["LF Animate, switches off"]["ratio"], 1.05)
    results = json.loads(json.dumps(RESULTS))
    results["sections"]["animate"]["figures"].update(paths=paths, bar=1.05)
    rows = [line for line in bench_figures.summary_block(results).splitlines() if line.startswith("| animate")]
    on_ratio = paths["LF Animate, switches on"]["ratio"]
    assert on_ratio["min"] < 1.0 < on_ratio["max"] and on_ratio["median"] != 1.0
    assert _timing.format_spread(on_ratio) + ": noise" in rows[1]
    assert _timing.format_spread(paths["LF Animate, switches off"]["ratio"]) + ": meets ≤ 1.05" in rows[0]
