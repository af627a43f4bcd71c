"""The reporting layer: figures (:mod:`.figures`, drawn by :mod:`.plots`), tables
(:mod:`.tables`, :mod:`.comparison`, :mod:`.lastlayer`), galleries, a study's description
(:mod:`.provenance`), words for people (:mod:`.reliability`, :mod:`.explain`) and every number
quoted from the paper (:mod:`.paper`).

Reporting imports the experiment layer (data, models, training, trials, store, estimators,
selection, removal, last layer, comparison); the experiment layer never imports reporting
(``tests/test_layers.py`` checks it). Importing this package loads nothing: each module is
imported by name, so :mod:`.paper` stays free of matplotlib.
"""
