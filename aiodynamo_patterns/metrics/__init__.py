"""Metrics at the choke point: the collector and its layers, latency histograms, the JSON
snapshot and the Prometheus exposition. Imports nothing above the pipeline.
"""

__all__: list[str] = []
