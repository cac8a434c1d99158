from recap_dagster.assets.captioner import captioner, captioner_pretrained
from recap_dagster.assets.curated_captions import curated_captions
from recap_dagster.assets.recaptioned_shards import recaptioned_shards
from recap_dagster.assets.web_shards import web_shards

__all__ = ["captioner", "captioner_pretrained", "curated_captions", "recaptioned_shards", "web_shards"]
