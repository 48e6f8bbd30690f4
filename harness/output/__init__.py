"""The results and their views: terminal table, CSV, pytest-benchmark JSON, HTML report, figures."""
