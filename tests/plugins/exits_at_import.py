"""A plugin that ends the interpreter at import: a broken plugin, not the end of the harness."""
import sys

sys.exit(3)
