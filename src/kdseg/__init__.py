"""kdseg: public medical-imaging data sets to challenge submissions and knowledge-distillation paper tables.

The package holds every stage of the workflow as a typed function with a console command
(``kdseg-<verb>``); the Snakemake rules in ``rules/`` only wire those commands together.
"""

__version__ = "0.1.0"
