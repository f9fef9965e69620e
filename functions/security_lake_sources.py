"""The OCSF copy's custom sources in Amazon Security Lake, as a CloudFormation custom resource.

CloudFormation has no resource type for a Security Lake custom source, so the stack
(OcsfCopy=SecurityLake) registers its five with this function: CreateCustomLogSource on Create,
DeleteCustomLogSource on Delete (the objects already written stay in the bucket), both on an
Update that changes a source (Security Lake has no update call). It answers with every source's
provider location as Security Lake records it (Data "Locations": "name=s3://...;..."), which the
collector writes to (OCSF_SOURCE_LOCATIONS), after checking each is in the bucket the stack was
given and under ext/<name>/, where the collector's role may write.

The physical id names the sources this resource created, so that a rollback never deletes a source
it did not create (one registered by hand before, whose name made Create fail).

template.yaml carries this file, byte for byte, as OcsfSourcesFunction's InlineCode (a test holds
them equal); functions/test_security_lake_sources.py runs it against botocore's model of the API.
"""
import json
import urllib.request

import boto3

ID_PREFIX = "security-lake-sources:"


class Partial(Exception):
    """A failure after which `owned` (created and not deleted) must stay in the physical id."""

    def __init__(self, owned, cause):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.owned = owned


def handler(event, context, client=None):
    """Every request gets an answer: CloudFormation waits an hour for one otherwise."""
    try:
        client = client or boto3.client("securitylake")
        data, owned = apply(client, event)
        respond(event, "SUCCESS", ID_PREFIX + ",".join(owned), data=data)
    except Exception as e:  # noqa: BLE001: any failure must reach CloudFormation
        owned = e.owned if isinstance(e, Partial) else owned_by(event)
        reason = str(e) if isinstance(e, Partial) else f"{type(e).__name__}: {e}"
        print(json.dumps({"level": "ERROR", "request": event.get("RequestType"), "reason": reason}))
        respond(event, "FAILED", ID_PREFIX + ",".join(owned), reason=reason)


def apply(client, event):
    """(Data, the names this resource owns afterwards), or raises Partial."""
    kind = event["RequestType"]
    owned = owned_by(event)
    if kind == "Delete":
        version = event.get("ResourceProperties", {}).get("SourceVersion") or None
        while owned:
            remove(client, owned, owned[0], version)
        return {}, []
    new = wanted(event.get("ResourceProperties", {}))
    old = wanted(event.get("OldResourceProperties", {})) if kind == "Update" else {}
    try:
        for name, spec in new.items():
            if name in owned and old.get(name) == spec:
                continue  # unchanged
            if name in owned:
                remove(client, owned, name, old.get(name, spec)["sourceVersion"])
            create(client, name, spec)
            owned.append(name)
        for name in [n for n in owned if n not in new]:
            remove(client, owned, name, old.get(name, {}).get("sourceVersion"))
        found = locations(client, new)
        check_locations(found, event["ResourceProperties"].get("Bucket", ""))
        return {"Locations": ";".join(f"{n}={loc}" for n, loc in found.items())}, owned
    except Exception as e:
        raise Partial(owned, e) from e


def wanted(props):
    """name -> the CreateCustomLogSource arguments the properties ask for."""
    if not props:
        return {}
    for key in ("Sources", "SourceVersion", "CrawlerRoleArn", "ExternalId", "Principal"):
        if not props.get(key):
            raise ValueError(f"the custom resource needs the property {key}")
    configuration = {
        "crawlerConfiguration": {"roleArn": props["CrawlerRoleArn"]},
        "providerIdentity": {"externalId": props["ExternalId"], "principal": props["Principal"]},
    }
    return {
        s["Name"]: {
            "sourceName": s["Name"],
            "sourceVersion": props["SourceVersion"],
            "eventClasses": [s["EventClass"]],
            "configuration": configuration,
        }
        for s in props["Sources"]
    }


def owned_by(event):
    """The sources this resource created, from its physical id (none before its first Create)."""
    pid = event.get("PhysicalResourceId", "")
    if event["RequestType"] == "Create" or not pid.startswith(ID_PREFIX):
        return []
    return [n for n in pid[len(ID_PREFIX):].split(",") if n]


def create(client, name, spec):
    try:
        client.create_custom_log_source(**spec)
    except client.exceptions.ConflictException as e:
        raise RuntimeError(
            f"a custom source named {name} already exists in Security Lake (registered by hand?): "
            f"delete it (aws securitylake delete-custom-log-source --source-name {name} "
            f"--source-version {spec['sourceVersion']}; its objects stay in the bucket), then deploy again"
        ) from e


def remove(client, owned, name, version):
    """Deletes a source this resource created and forgets it; one already gone counts as deleted."""
    request = {"sourceName": name}
    if version:
        request["sourceVersion"] = version
    try:
        client.delete_custom_log_source(**request)
    except client.exceptions.ResourceNotFoundException:
        pass
    owned.remove(name)


def locations(client, new):
    """name -> location of the sources asked for, as Security Lake records them ("" if none)."""
    asked = [
        {"customLogSource": {"sourceName": n, "sourceVersion": s["sourceVersion"]}}
        for n, s in new.items()
    ]
    found, token = {}, None
    while True:
        page = client.list_log_sources(sources=asked, **({"nextToken": token} if token else {}))
        for entry in page.get("sources", []):
            for source in entry.get("sources", []):
                custom = source.get("customLogSource") or {}
                if custom.get("sourceName") in new:
                    found[custom["sourceName"]] = custom.get("provider", {}).get("location", "")
        token = page.get("nextToken")
        if not token:
            break
    return {n: found.get(n, "") for n in new}


def check_locations(found, bucket):
    """Each location must be where the collector may write: s3://<bucket>/ext/<name>/..."""
    for name, location in found.items():
        if location and not location.startswith(f"s3://{bucket}/ext/{name}"):
            raise RuntimeError(
                f"Security Lake placed the custom source {name} at {location}, not under "
                f"s3://{bucket}/ext/{name}/ where the collector writes: set SecurityLakeBucketName to "
                f"Security Lake's bucket of this Region"
            )


def respond(event, status, physical, data=None, reason=""):
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000] or status,
            "PhysicalResourceId": physical,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310: CloudFormation's URL
        answer.read()
