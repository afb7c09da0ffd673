"""Settings: the schema (``schema``), loading it from the TOML file and the environment
(``load``), secrets in the OS keyring (``secrets``) and saving changes safely (``file``)."""
