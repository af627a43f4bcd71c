"""The file layer under every format: atomic writes (:mod:`.io`), the one HDF5 layer
(:mod:`.h5`: validated open, attributes, checksummed datasets, ``complete`` written last), the
correctness store and its trial shards (:mod:`.correctness`) and peers' correctness arrays read
into a store (:mod:`.importers`).

May import: :mod:`longtail.errors` only (the bottom layer; ``tests/test_layers.py`` checks the
rule of every subpackage). Importing this package loads nothing.
"""
