"""The Cannon (Ness et al. 2015): a data-driven model of stellar spectra, as Astra tasks."""
