"""``lvas eval``: score dubbed videos of one or more output folders side by side.

``signals`` holds the measures computed on the CPU (onsets, synchrony with the picture's motion,
onset accuracy and precision against a reference, coverage, loudness); ``dataset`` the
LVAS-Bench-style manifest; ``avbench`` the contract with av-benchmark for the model metrics (FD,
KL, IS, ImageBind score, DeSync); ``evaluate`` puts them together; ``report`` writes the tables
and the page.
"""
