"""The reporting layer: figures (:mod:`.figures`, drawn by :mod:`.plots`), tables
(:mod:`.tables`, :mod:`.comparison`, :mod:`.lastlayer`), galleries, a study's description
(:mod:`.provenance`), words for people (:mod:`.reliability`, :mod:`.explain`) and every number
quoted from the paper (:mod:`.paper`).

May import the experiment layers (:mod:`longtail.errors`, :mod:`longtail.store`,
:mod:`longtail.config`, :mod:`longtail.data`, :mod:`longtail.estimators`, :mod:`longtail.labels`,
:mod:`longtail.train`); none of them imports reporting, nor does the workflow
(``tests/test_layers.py`` checks it). Importing this package loads nothing: each module is
imported by name, so :mod:`.paper` stays free of matplotlib.
"""
