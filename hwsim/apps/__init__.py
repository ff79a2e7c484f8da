"""Applications: the hwsim command line, figures, and spiking deployment with brian2."""
