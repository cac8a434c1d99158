"""The registered models as MLflow models from code: one file per model that MLflow copies
into the model and runs when it loads (`mlflow.pyfunc.load_model`); nothing is pickled.

These files import only `components` (bundled into each model), mlflow and third-party
packages, never `recap_dagster`, so a registered model loads wherever its pip requirements are
installed. recap_dagster/resources/model_registry.py saves and registers them.
"""
