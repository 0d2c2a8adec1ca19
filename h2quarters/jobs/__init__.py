"""Planners' workspace: scenario copies, background jobs (simulate, quarter simulate, quarter study) on Dask,
their progress, results and comparisons. The web server only submits and watches; Dask workers compute."""
