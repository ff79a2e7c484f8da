"""Workflows: run configs, seed trees, datasets, training, experiments, sweeps and HDF5 traces."""
