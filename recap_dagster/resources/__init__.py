from recap_dagster.resources.mlflow_run import MlflowRun
from recap_dagster.resources.mlflow_tracking import MlflowTracking
from recap_dagster.resources.storage import ProjectStorage

__all__ = ["MlflowRun", "MlflowTracking", "ProjectStorage"]
