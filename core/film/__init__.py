"""A film from a storyboard: parsing (storyboard), the units and their order (plan), the stitch and the film report.

Nothing here imports ComfyUI or Ray: the runner (film/runner.py) sends the plan's unit workflows to ComfyUI servers
(one in-process, several over HTTP, or Ray actors that each own one), and the LF_Film node runs them inside ComfyUI.
"""
