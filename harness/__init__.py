"""mxnet-harness: benchmark MXNet training pipelines assembled from pluggy plugins."""
__version__ = "0.1.0"
