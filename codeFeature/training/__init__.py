"""Training and evaluation (the only layer that uses TensorFlow): data, folds, fitting, metrics."""
