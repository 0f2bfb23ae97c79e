"""pytest plugin for condensekit plugin authors (fixtures and contract checks). Loaded by every pytest run."""
