from recap_dagster.assets.curated_captions import curated_captions
from recap_dagster.assets.web_shards import web_shards

__all__ = ["curated_captions", "web_shards"]
