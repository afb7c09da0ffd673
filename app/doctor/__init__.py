"""Checks of everything Hark needs, each saying how to fix what is wrong; ``hark doctor``
prints them and the desktop's Check-up window shows them."""
