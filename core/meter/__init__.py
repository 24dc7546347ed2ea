"""The consistency meter: figures of any video's steadiness, drift and seams, streamed in chunks.

- frames.py: where frames come from (an IMAGE batch, a video file, a film's PNG frames), a chunk at a time;
- pixels.py: model-free figures of one frame or one pair (optical flow, warp error, CIELAB colour, histograms);
- measure.py: one pass over a video that gathers every per-frame figure, VBench's included (cached per chunk for a film);
- curves.py: what is read from those figures (cuts, colour drift, the drift curve, seams, prompt-switch latency);
- report.py: the report (JSON with a definition id on every figure, and one plot) for a video or a storyboard;
- definitions.py: each figure's one-line definition, its VBench reference and the model it needs.
VBench's own metrics (features.py, vbench.py, faces.py) are computed the way VBench computes them.
"""
