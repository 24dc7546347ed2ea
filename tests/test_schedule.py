"""Prompt schedules: both text forms, every malformed form with its line and column, weights, and the blender of
encodings into per-frame conditioning (with a stand-in CLIP; tests/native has ComfyUI's own)."""

import math

import pytest
import torch

from longform_pack.core import schedule as sch


def parse(text, frames=48, fps=12.0, **kwargs):
    return sch.parse_schedule(text, frames, fps=fps, **kwargs)


# ----------------------------------------------------------------------------------------------------------- valid


def test_line_form_with_seconds_negatives_comments_and_blank_lines():
    text = "# clip\n0: a sunny forest, a fox --neg blurry, dark\n\n  2s: a stormy night, a fox\n"
    schedule = parse(text, default_negative="lowres")
    assert [k.frame for k in schedule.keyframes] == [0, 24]
    assert schedule.prompts == ["a sunny forest, a fox", "a stormy night, a fox"]
    assert schedule.negatives == ["blurry, dark", "lowres"]
    assert [k.line for k in schedule.keyframes] == [2, 4]


def test_json_forms_braced_bare_and_trailing_comma_agree():
    bare = '"0": "a sunny forest",\n"24": "a stormy night --neg rain"'
    braced = '{\n  "0": "a sunny forest",\n  "2s": "a stormy night --neg rain",\n}'
    one, two = parse(bare), parse(braced)
    assert one.keyframes[0].prompt == two.keyframes[0].prompt == "a sunny forest"
    assert [k.frame for k in one.keyframes] == [k.frame for k in two.keyframes] == [0, 24]
    assert one.negatives[1] == two.negatives[1] == "rain"


def test_keyframes_are_sorted_and_seconds_round_with_fps():
    schedule = parse("30: c\n0: a\n1.25s: b", fps=10)
    assert [(k.frame, k.prompt) for k in schedule.keyframes] == [(0, "a"), (12, "b"), (30, "c")]  # round(12.5) = 12


def test_json_escapes_and_colons_inside_prompts():
    schedule = parse('"0": "a \\"quoted\\" word: yes"')
    assert schedule.prompts == ['a "quoted" word: yes']
    assert parse("0: ratio 16:9, wide").prompts == ["ratio 16:9, wide"]


# ------------------------------------------------------------------------------------------------------- malformed

# (text, line, column, words the message must contain); frames=48, fps=12 unless the case says otherwise.
MALFORMED = [
    ("", 1, 1, "no keyframes"),
    ("# only a comment\n\n", 1, 1, "no keyframes"),
    ("0: a\nforest at night", 2, 1, "no ':'"),
    ("0: a\n  abc: b", 2, 3, "not a whole frame number"),
    ("0: a\n-3: b", 2, 1, "negative"),
    ("0: a\n2.5: b", 2, 1, "not a whole frame number"),
    ("0: a\n12:", 2, 4, "empty prompt"),
    ("0: a\n12:    --neg blur", 2, 8, "empty prompt"),
    ("0: a\n0: b", 2, 1, "already has a keyframe"),
    ("0: a\n0s: b", 2, 1, "already has a keyframe"),
    ("0: a\n48: b", 2, 1, "past the clip's last frame 47"),
    ("0: a\n10s: b", 2, 1, "past the clip's last frame"),
    ("0: a --neg", 1, 6, "not followed by a negative"),
    ("0: a --neg x --neg y", 1, 14, "given twice"),
    ("0: a --negative blur", 1, 6, "unknown option '--negative'"),
    (": a", 1, 1, "missing frame"),
    ("0: a\n\"12\": b", 2, 1, "quoted frame in the line form"),
    ('"0": "a" "12": "b"', 1, 10, "expected ','"),
    ('"0" "a"', 1, 5, "expected ':'"),
    ('"0": 5', 1, 6, "must be a quoted string"),
    ('"0": "a",\n"x": "b"', 2, 1, "not a whole frame number"),
    ('"0": "a sunny', 1, 6, "never closed"),
    ('{"0": "a"', 1, 10, "never closed; add '}'"),
    ('{"0": "a"} extra', 1, 12, "after the closing"),
    ('"0": "a \\q"', 1, 9, "unknown escape"),
    ('"0": "a", 12: "b"', 1, 11, "expected a quoted frame"),
    ('"0": "a",\n"0": "b"', 2, 1, "already has a keyframe"),
]


@pytest.mark.parametrize("text,line,column,words", MALFORMED, ids=[f"case{i}" for i in range(len(MALFORMED))])
def test_malformed_schedule_names_line_and_column(text, line, column, words):
    with pytest.raises(sch.ScheduleError) as caught:
        parse(text)
    issue = caught.value.issues[0]
    assert (issue.line, issue.column) == (line, column), str(caught.value)
    assert words in issue.message
    assert f"line {line}, column {column}" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_seconds_without_fps_is_an_error():
    with pytest.raises(sch.ScheduleError, match="no fps was given"):
        sch.parse_schedule("0: a\n1s: b", 48, fps=None)


def test_every_error_is_reported_at_once():
    text = "0: a\nbad line\n-1: b\n5: c --neg\n0: d\n99: e"
    with pytest.raises(sch.ScheduleError) as caught:
        parse(text)
    assert [issue.line for issue in caught.value.issues] == [2, 3, 4, 5, 6]
    assert "5 errors" in str(caught.value)


@pytest.mark.parametrize(
    "kwargs,field",
    [({"frame_count": 0}, "frame_count"), ({"fps": 0.0}, "fps"), ({"interpolation": "cubic"}, "interpolation")],
)
def test_bad_arguments_name_their_field(kwargs, field):
    arguments = {"text": "0: a", "frame_count": 10, "fps": 12.0} | kwargs
    with pytest.raises(ValueError, match=f"'{field}'"):
        sch.parse_schedule(**arguments)


# ------------------------------------------------------------------------------------------------------ weights


def test_linear_weights_at_and_between_keyframes():
    schedule = parse("0: a\n10: b\n30: c", frames=40, interpolation="linear")
    weights = schedule.weights()
    assert weights.shape == (40, 3)
    assert torch.allclose(weights.sum(1), torch.ones(40))
    assert weights[0].tolist() == [1, 0, 0] and weights[10].tolist() == [0, 1, 0] and weights[30].tolist() == [0, 0, 1]
    assert weights[5, :2].tolist() == pytest.approx([0.5, 0.5])
    assert weights[15, 1:].tolist() == pytest.approx([0.75, 0.25])
    assert weights[39].tolist() == [0, 0, 1]  # the last prompt holds


def test_first_prompt_holds_before_the_first_keyframe():
    weights = parse("8: a\n16: b", frames=20).weights()
    assert weights[:9, 0].tolist() == [1.0] * 9


def test_eased_weights_are_smoothstep_and_symmetric():
    weights = parse("0: a\n10: b", frames=11, interpolation="eased").weights()[:, 1]
    for frame in range(11):
        t = frame / 10
        assert weights[frame].item() == pytest.approx(3 * t * t - 2 * t**3, abs=1e-6)
    assert weights[5].item() == pytest.approx(0.5)
    assert weights[2].item() < 0.2  # slower than linear near the keyframe


def test_step_holds_until_the_next_keyframe():
    weights = parse("0: a\n10: b", frames=20, interpolation="step").weights()
    assert weights[9].tolist() == [1, 0] and weights[10].tolist() == [0, 1]


def test_switches_are_blend_midpoints_and_skip_holds():
    assert parse("0: a\n24: b", frames=48).switches() == [("a", "b", 12.0)]
    assert parse("0: a\n24: b", frames=48, interpolation="step").switches() == [("a", "b", 24.0)]
    held = parse("0: a\n18: a\n30: b\n40: a", frames=48)
    assert held.switches() == [("a", "b", 24.0), ("b", "a", 35.0)]
    assert held.distinct_prompts == ["a", "b"]


# --------------------------------------------------------------------------------------------------- embeddings


def test_blend_follows_the_schedule_for_linear_and_slerp():
    torch.manual_seed(0)
    embeddings = torch.randn(2, 4, 8)
    linear = parse("0: a\n10: b", frames=11)
    assert torch.equal(sch.blend(embeddings, linear, 0), embeddings[0])
    assert torch.equal(sch.blend(embeddings, linear, 10), embeddings[1])
    assert torch.allclose(sch.blend(embeddings, linear, 3), 0.7 * embeddings[0] + 0.3 * embeddings[1], atol=1e-6)

    spherical = parse("0: a\n10: b", frames=11, interpolation="slerp")
    middle = sch.blend(embeddings, spherical, 5)
    a, b = embeddings[0], embeddings[1]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    omega = torch.arccos(cos)
    expected = (torch.sin(0.5 * omega) / torch.sin(omega)).unsqueeze(-1) * (a + b)
    assert torch.allclose(middle, expected, atol=1e-5)
    # on unit vectors, the slerp midpoint stays on the sphere at equal angles to both ends (a lerp would shrink)
    unit = torch.nn.functional.normalize(embeddings, dim=-1)
    middle = sch.blend(unit, spherical, 5)
    assert torch.allclose(middle.norm(dim=-1), torch.ones(4), atol=1e-5)
    to_a = torch.nn.functional.cosine_similarity(middle, unit[0], dim=-1)
    to_b = torch.nn.functional.cosine_similarity(middle, unit[1], dim=-1)
    assert torch.allclose(to_a, to_b, atol=1e-5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.ones(1, 4)
    assert torch.allclose(sch.slerp(a, 3 * a, 0.5), 2 * a)
    assert not math.isnan(sch.slerp(a, a, 0.3).sum().item())


def test_blend_rejects_mismatched_embeddings():
    with pytest.raises(ValueError, match="'embeddings' has 3 rows for 2 keyframes"):
        sch.blend(torch.zeros(3, 2, 2), parse("0: a\n5: b", frames=6), 1)


def test_blend_frames_is_blend_at_every_frame_and_exact_at_keyframes():
    torch.manual_seed(1)
    embeddings = torch.randn(3, 5, 4)
    for interpolation in sch.INTERPOLATIONS:
        schedule = parse("2: a\n9: b\n15: c", frames=20, interpolation=interpolation)
        frames = sch.blend_frames(embeddings, schedule)
        assert frames.shape == (20, 5, 4)
        for frame in range(20):
            assert torch.equal(frames[frame], sch.blend(embeddings, schedule, frame))
        for index, keyframe in enumerate(schedule.keyframes):
            assert torch.equal(frames[keyframe.frame], embeddings[index])
        assert torch.equal(frames[0], embeddings[0]) and torch.equal(frames[19], embeddings[2])  # holds at the ends


def test_a_prompt_held_between_two_keyframes_is_its_encoding_exactly():
    torch.manual_seed(4)
    row = torch.randn(1, 77, 16)
    schedule = parse("0: a\n3: a\n9: b", frames=12)
    embeddings = torch.cat([row, row, torch.randn(1, 77, 16)])
    for frame in range(4):
        assert torch.equal(sch.blend(embeddings, schedule, frame), row[0])
    mixed = row[0] * (1.0 - 1 / 3) + row[0] * (1.0 - (1.0 - 1 / 3))
    assert not torch.equal(mixed, row[0])  # what mixing a row with itself would give: the last bit moves


def test_blend_is_the_weighted_sum_of_the_weights_table():
    """An independent reference: row f of the blend is sum_k weights[f, k] * embedding_k, for every non-slerp mode."""
    torch.manual_seed(2)
    embeddings = torch.randn(3, 6, dtype=torch.float64)
    for interpolation in ("linear", "eased", "step"):
        schedule = parse("0: a\n7: b\n20: c", frames=24, interpolation=interpolation)
        expected = schedule.weights().double() @ embeddings
        assert torch.allclose(sch.blend_frames(embeddings, schedule), expected, atol=1e-6)


def test_prompt_weights_sum_keyframes_that_share_a_text():
    schedule = parse("0: a --neg x\n10: b\n20: a --neg x", frames=24, default_negative="y")
    prompts, weights = schedule.prompt_weights()
    assert prompts == ["a", "b"] and weights.shape == (24, 2)
    assert weights[15].tolist() == pytest.approx([0.5, 0.5]) and weights[23].tolist() == [1.0, 0.0]
    negatives, negative_weights = schedule.prompt_weights(negative=True)
    assert negatives == ["x", "y"] and negative_weights[10].tolist() == [0.0, 1.0]
    assert (weights.sum(1) == pytest.approx(1.0)) and (negative_weights.sum(1) == pytest.approx(1.0))


def test_match_token_counts_repeats_to_the_least_common_multiple():
    short, long = torch.randn(1, 77, 4), torch.randn(1, 154, 4)
    stacked = sch.match_token_counts([short, long, short])
    assert stacked.shape == (3, 154, 4)
    assert torch.equal(stacked[0, :77], short[0]) and torch.equal(stacked[0, 77:], short[0])
    assert torch.equal(stacked[1], long[0])
    assert torch.equal(sch.match_token_counts([short])[0], short[0])


def test_blend_conditioning_blends_cond_and_pooled_alike():
    torch.manual_seed(3)
    schedule = parse("0: a\n8: b", frames=12, interpolation="slerp")
    keyframes = [(torch.randn(1, 77, 4), torch.randn(1, 4)) for _ in range(2)]
    cond, pooled = sch.blend_conditioning(keyframes, schedule)
    assert cond.shape == (12, 77, 4) and pooled.shape == (12, 4)
    assert torch.equal(cond[0], keyframes[0][0][0]) and torch.equal(pooled[8], keyframes[1][1][0])
    assert torch.allclose(pooled[4], sch.slerp(keyframes[0][1][0], keyframes[1][1][0], 0.5))
    assert sch.blend_conditioning([(c, None) for c, _ in keyframes], schedule)[1] is None
    with pytest.raises(ValueError, match="'keyframe_conds' has 1 encodings for 2 keyframes"):
        sch.blend_conditioning(keyframes[:1], schedule)


def test_schedule_conditioning_encodes_each_text_once_and_blends_per_frame(fake_clip):
    schedule = parse("0: a fox --neg blur\n6: a fox | at night\n12: a fox --neg blur", frames=16, default_negative="")
    positive, negative = sch.schedule_conditioning(fake_clip, schedule)
    assert sorted(fake_clip.encoded) == ["", "a fox", "a fox | at night", "blur"]  # each distinct text once
    cond, pooled = positive[0][0], positive[0][1]["pooled_output"]
    assert len(positive) == 1 and cond.shape == (16, 154, 8) and pooled.shape == (16, 8)
    fox, fox_pooled = encode_again(fake_clip, "a fox")
    assert torch.equal(cond[0], fox.repeat(1, 2, 1)[0]) and torch.equal(pooled[12], fox_pooled[0])
    night, _ = encode_again(fake_clip, "a fox | at night")
    assert torch.equal(cond[6], night[0])
    assert torch.allclose(cond[3], 0.5 * fox.repeat(1, 2, 1)[0] + 0.5 * night[0], atol=1e-6)
    negative_cond = negative[0][0]
    blur, _ = encode_again(fake_clip, "blur")
    assert negative_cond.shape == (16, 77, 8) and torch.equal(negative_cond[15], blur[0])


def encode_again(clip, text):
    """`text` through the stand-in CLIP again (it is seeded by the text, so the same encoding)."""
    return clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)


def test_frame_count_is_round_seconds_times_fps():
    assert sch.frame_count_for(4, 12) == 48
    assert sch.frame_count_for(3.3, 10) == 33
    assert sch.frame_count_for(2.05, 10) == round(2.05 * 10)
    with pytest.raises(ValueError, match="'seconds'"):
        sch.frame_count_for(0, 12)
    with pytest.raises(ValueError, match="'fps'"):
        sch.frame_count_for(3, -1)


def test_timeline_image_has_one_column_per_frame_area():
    picture = sch.timeline_image(parse("0: a sunny forest\n2s: a stormy night", frames=48))
    assert picture.mode == "RGB" and picture.width > 400 and picture.height > 150
    assert len(set(picture.resize((64, 32)).getdata())) > 4  # coloured areas, not a blank canvas


def test_value_schedules_constant_and_keyframed():
    assert sch.parse_values("0.4", 5, 12, 0.0, 1.0, "strength") == [0.4] * 5
    values = sch.parse_values("0: 0.6\n1s: 0.2", 16, 8, 0.0, 1.0, "strength")
    assert values[0] == pytest.approx(0.6) and values[4] == pytest.approx(0.4) and values[8:] == [pytest.approx(0.2)] * 8
    with pytest.raises(ValueError, match="'strength' is 1.5"):
        sch.parse_values("1.5", 5, 12, 0.0, 1.0, "strength")
    with pytest.raises(sch.ScheduleError) as caught:
        sch.parse_values("0: lots\n2: 3.0\n9: 0.5", 8, 12, 0.0, 1.0, "strength")
    assert [(i.line, i.column) for i in caught.value.issues] == [(1, 4), (2, 4), (3, 1)]
    assert "one `frame: number` per line" in str(caught.value)
