"""Server functions (`nk.*`) by domain, mixed into `overworld.runtime.ServerApi`."""
