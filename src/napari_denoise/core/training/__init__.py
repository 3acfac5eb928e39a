"""Training: synthetic-noise supervised training and Noise2Noise self-training."""
