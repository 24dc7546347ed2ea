"""A film from a storyboard: parsing (storyboard), the units and their order (plan), the stitch and the film report.

Nothing here imports ComfyUI or Ray: the runner (scripts/film.py) sends the plan's unit workflows to ComfyUI servers
(one or several over HTTP, or Ray actors that each own one), and the LF_Film node hands them to the executor of
the ComfyUI it runs in (node expansion, core/film/expand.py).
"""
