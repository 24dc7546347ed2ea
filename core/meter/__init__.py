"""The consistency meter: VBench's metrics and what they leave out, for any video."""
