"""What every layer may import: the settings (:mod:`core.settings`) and the error family
(:mod:`core.errors`). ``core`` imports nothing else of this project."""
