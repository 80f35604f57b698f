"""Engines: load a model folder, judge songs (one inference path), say when not sure; the model card."""
