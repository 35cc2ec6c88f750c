"""What every part of kedit needs, and nothing paper-specific: parameter validation
(:mod:`.validation`), devices and threads (:mod:`.devices`), the artifact cache keyed by
inputs and code (:mod:`.cache`, :mod:`.fingerprints`), job grids on processes or Dask
(:mod:`.jobs`), model-architecture adapters for GPT-2 and Llama layouts
(:mod:`.architectures`), token spans of a subject in a prompt (:mod:`.tokens`), scoring of
answers over prompts that share a prefix (:mod:`.prefix_scoring`), statistics (:mod:`.stats`),
the verdict rules (:mod:`.verdicts`), the bases of the results schemas (:mod:`.results_schema`)
and the pretrained models that PyPI packages ship (:mod:`.pretrained`).

It imports nothing else of ``kedit_utils`` (the import-linter contracts in ``pyproject.toml``).
"""
