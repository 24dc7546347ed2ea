"""The one source of the shipped workflows: each function returns a Graph that `make workflows` writes twice,
as workflows/<name>.json (UI format, drag onto the canvas) and workflows/api/<name>.json (API format, for POST /prompt).
"""

WORKFLOWS = {}
