"""Sample apps for ``chatkit-backend doctor``, each with one known problem (or none)."""
