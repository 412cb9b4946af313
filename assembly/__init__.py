"""The top of the house: the HTTP API and the CLI, composed of producers, streams and consumers.

Layers, each importing only those below it (tests/test_layers.py holds them):
schemas < heterdaad (the core) < producers | streams | consumers < infra < assembly.
"""
