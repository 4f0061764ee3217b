"""Live flows: websocket consumers, the per-process fan-out hub and the after-commit publisher."""
