"""The shipped catalogue, installed as the import package ``condensekit_plugins``. Every module is an ordinary
plugin."""
