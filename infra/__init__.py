"""Adapters and wiring: settings, the composition root, event stores, transports, workers."""
