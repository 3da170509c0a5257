"""HTML reports of runs and the demo."""
