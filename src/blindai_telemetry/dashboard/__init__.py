"""The dashboard: the query API (`/api/v1/...`) and the offline web page the collector serves at `/`."""
