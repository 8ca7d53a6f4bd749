"""The ``chatkit-backend`` command line."""
