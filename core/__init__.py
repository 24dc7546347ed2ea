"""The LongForm core: models, maths and file formats. It never imports ComfyUI; `host` is the one bridge to it."""
