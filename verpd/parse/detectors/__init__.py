"""One module per bounce format: each holds one detector class and nothing else.

The order in which they run is ``verpd.parse.registry``'s.
"""
