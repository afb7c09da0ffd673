"""The composition root: the one place that knows which concrete class implements which port.

``build`` assembles the engine's adapters from the settings (``hark ask``, ``hark listen``, the
tray app and the benchmarks all assemble their pipeline there, so they behave the same way);
``warm`` loads the models at start-up so the first turn is as fast as the tenth.
"""
