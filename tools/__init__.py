"""Operator and developer tools that run next to Overworld without being part of the server
package (`overworld/`): they are not installed with it and the server never imports them. Run
them from a checkout (`scripts/chaos` runs `python -m tools.chaos`)."""
