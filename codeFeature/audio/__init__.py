"""Audio input: decode any common file to mono PCM, cut it into the segments the models judge."""
