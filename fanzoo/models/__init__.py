"""NNabla graph definitions. Importing anything below this package imports nnabla."""
