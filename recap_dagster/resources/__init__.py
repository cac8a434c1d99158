from recap_dagster.resources.mlflow_tracking import MlflowRun, MlflowTracking
from recap_dagster.resources.storage import ProjectStorage

__all__ = ["MlflowRun", "MlflowTracking", "ProjectStorage"]
