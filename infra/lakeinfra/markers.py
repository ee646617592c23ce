"""The dev stack's prefix markers: a zero-byte "<prefix>/" object each, one Command resource each.

Why not the MinIO provider's own object resource (terraform-provider-minio v1.20.1, bridged by
pulumi-minio 0.17.1, with minio-go v7.0.63): it cannot make a zero-byte "<prefix>/" object,
whatever its arguments.

- resource_minio_s3_object.go, minioPutObject, reads only ``content`` and ``content_base64``,
  each with ``d.GetOk``, which takes "" for unset; ``source`` is in the schema but never read.
  A zero-byte object fails with "one of source / content / content_base64 is not set".
- Whatever the body, it calls minio-go ``PutObject`` with size -1, which always takes the
  multipart path (api-put-object.go, putObjectCommon: putObjectMultipartStreamNoLength), and
  MinIO refuses to start a multipart upload for a key ending in "/" (cmd/erasure-server-pool.go,
  NewMultipartUpload: IsValidObjectName rejects a trailing slash), after buffering a 528 MiB
  part (OptimalPartInfo(-1, 0)).

So each marker is a ``command:local:Command`` (pulumi-command 1.2.1) on the stack's explicit
command provider: a resource that preview shows and state tracks. Its create command is one
signed, zero-byte PUT with ``If-None-Match: *`` (curl's --aws-sigv4): MinIO stores it as a
directory object, or answers 412 when the marker is already there, so running it again changes
nothing, and two runs cannot race to write it twice. What the provider does with it, from its
source at v1.2.1 (provider/pkg/provider/local/commandController.go; common/inputs.go):

- Create runs ``create`` (never in a preview: ``if preview { return ... }``).
- A changed input (the login on stdin, the bucket) is an update, which runs ``create`` again
  (Update: "Use Create command if Update is unspecified"): harmless, it is idempotent.
- ``triggers`` are replaceOnChanges: they name the bucket and its versioning, so when the bucket
  is replaced (delete-before-replace, see MinioLakeLayer) the engine replaces the marker with it
  (pkg/resource/deploy/step_generator.go, calculateDependentReplacements: a dependent whose
  inputs depend on the replaced resource is diffed with them unknown), and writes it into the
  new bucket once that bucket's versioning is on.
- Delete runs ``delete``: a prefix removed from the layout takes its marker with it (a delete
  marker; the version expires with the bucket's ILM rule).

The login reaches curl on its standard input (``stdin``, a Pulumi secret, as a curl config
file), never on a command line.
"""

from __future__ import annotations

import pulumi
import pulumi_command as command

from lakeinfra.args import MinioAdmin

# POSIX sh (the provider runs `/bin/sh -c`). The curl config with the login is on stdin.
# Every request has an empty body, whose SHA-256 is sent as x-amz-content-sha256: S3 servers
# sign it, and curl before 8.x does not add it by itself.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_CURL = (
    'curl --config - --silent --show-error --aws-sigv4 "aws:amz:$LAKE_S3_REGION:s3" '
    f"--header 'x-amz-content-sha256: {EMPTY_SHA256}' "
    '--output "$body" --write-out "%{http_code}"'
)
_TARGET = (
    'target="s3://$LAKE_BUCKET/$LAKE_MARKER_KEY"\n'
    'url="$LAKE_S3_ENDPOINT/$LAKE_BUCKET/$LAKE_MARKER_KEY"'
)
_BODY = 'body="$(mktemp)"; trap \'rm -f "$body"\' EXIT'
_FAIL = 'echo "prefix marker $target: HTTP $status from $url: $(cat "$body")" >&2; exit 1'

PUT_MARKER = f"""set -eu
{_TARGET}
{_BODY}
status="$({_CURL} --request PUT --header 'If-None-Match: *' \\
  --header 'Content-Type: application/octet-stream' --data-binary '' "$url")"
case "$status" in
  200) echo "created prefix marker $target" ;;
  412) echo "prefix marker $target is there" ;;
  *) {_FAIL} ;;
esac
"""

DELETE_MARKER = f"""set -eu
{_TARGET}
{_BODY}
status="$({_CURL} --request DELETE "$url")"
case "$status" in
  204|200|404) echo "removed prefix marker $target" ;;
  *) {_FAIL} ;;
esac
"""


def curl_login(user: str, password: str) -> str:
    """The login as a curl config file (read from stdin by `--config -`)."""

    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return f'user = "{quoted(user)}:{quoted(password)}"\n'


def prefix_marker(
    name: str,
    *,
    bucket: pulumi.Output[str],
    key: str,
    admin: MinioAdmin,
    region: str,
    triggers: list[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> command.local.Command:
    login: pulumi.Output[str] = pulumi.Output.all(admin.user, admin.password).apply(
        lambda values: curl_login(str(values[0]), str(values[1]))
    )
    return command.local.Command(
        name,
        create=PUT_MARKER,
        delete=DELETE_MARKER,
        stdin=pulumi.Output.secret(login),  # type: ignore[arg-type]
        environment={
            "LAKE_S3_ENDPOINT": admin.url,
            "LAKE_S3_REGION": region,
            "LAKE_BUCKET": bucket,
            "LAKE_MARKER_KEY": key,
        },
        triggers=triggers,
        opts=opts,
    )
