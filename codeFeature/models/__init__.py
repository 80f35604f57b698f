"""The networks and their files: the MFCC CNN, musicnn, the genre head, Keras file I/O, song-level rules."""
