"""A deployment's secrets: made once, read back, backed up, and the backup proven.

Run by the Makefile with the project venv's python (boto3 comes with the SAM CLI; tomlkit
too), so nothing else is needed. The region and credentials are the deployer's AWS
configuration (AWS_REGION / AWS_PROFILE, or the environment's `region` in samconfig.toml).

  make secrets ENV=prod          init: creates in Secrets Manager, once each,
                                 tapd-docs/ENV/token-encryption-key (32 random bytes, base64),
                                 tapd-docs/ENV/tapd-webhook-secret (32 random bytes, hex), and
                                 tapd-docs/ENV/{tapd,tdoc}-client-secret (asked for, not echoed);
                                 an existing secret is never replaced. Prints the four
                                 parameter_overrides lines for samconfig.toml.
  make backup-key ENV=prod       backup-key: reads the key back from where the deployed stack
                                 takes it (TokenEncryptionKeyArn: Secrets Manager or SSM; else the
                                 functions' TOKEN_ENCRYPTION_KEY) and writes it gpg-encrypted
                                 (symmetric AES-256, ASCII armour: gpg asks for a passphrase, or
                                 reads BACKUP_PASSPHRASE_FILE), or plain with --plain (mode 600).
                                 Prints the key's fingerprint.
  make verify-backup ENV=prod FILE=...
                                 verify-backup: decrypts the backup (gpg asks for the passphrase)
                                 and pipes it to `tapdocs check-key --key-file -` on the stack's
                                 table: it opens one stored token with it, printing nothing secret.
  scripts/deployment.py overrides --samconfig FILE
                                 every environment's parameter_overrides, as SAM reads them (JSON).
"""

import argparse
import base64
import datetime
import getpass
import hashlib
import json
import os
import secrets as random
import subprocess
import sys


def fail(msg, hint=None, code=1):
    print(f"deployment: {msg}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    sys.exit(code)


# --- samconfig.toml ------------------------------------------------------------------------------


def load_samconfig(path):
    import tomlkit

    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return tomlkit.parse(f.read()).unwrap()


def overrides_of(doc, env):
    """An environment's parameter_overrides, parsed by the SAM CLI's own parser."""
    from samcli.cli.types import CfnParameterOverridesType

    raw = doc.get(env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    if isinstance(raw, str):
        raw = [raw]
    return dict(CfnParameterOverridesType().convert(list(raw), None, None)) if raw else {}


def deploy_params(doc, env):
    return doc.get(env, {}).get("deploy", {}).get("parameters", {})


def stack_name(doc, env):
    name = deploy_params(doc, env).get("stack_name")
    if name:
        return name
    return "tapd-docs" if env == "default" else f"tapd-docs-{env}"


def session(doc, env):
    import boto3

    region = doc.get(env, {}).get("global", {}).get("parameters", {}).get("region") or deploy_params(doc, env).get(
        "region"
    )
    profile = deploy_params(doc, env).get("profile") or os.environ.get("AWS_PROFILE")
    # AWS_REGION as the SAM CLI and the AWS SDKs read it (boto3 alone reads only AWS_DEFAULT_REGION).
    region = region or os.environ.get("AWS_REGION") or None
    s = boto3.session.Session(region_name=region, profile_name=profile or None)
    if not s.region_name:
        fail("no AWS region", "set AWS_REGION (or the profile's region), or `region` in samconfig.toml")
    return s


# --- init -------------------------------------------------------------------------------------------

SECRETS = [
    # (name, template parameter, how it is made)
    ("tapd-client-secret", "TapdClientSecretArn", "ask"),
    ("tdoc-client-secret", "TdocClientSecretArn", "ask"),
    ("tapd-webhook-secret", "TapdWebhookSecretArn", "hex"),
    ("token-encryption-key", "TokenEncryptionKeyArn", "key"),
]


def cmd_init(args):
    doc = load_samconfig(args.samconfig)
    sm = session(doc, args.env).client("secretsmanager")
    lines = []
    for name, param, how in SECRETS:
        secret_id = f"tapd-docs/{args.env}/{name}"
        try:
            arn = sm.describe_secret(SecretId=secret_id)["ARN"]
            print(f"secrets: {secret_id} exists: kept as it is", file=sys.stderr)
        except sm.exceptions.ResourceNotFoundException:
            if how == "key":
                value = base64.b64encode(random.token_bytes(32)).decode()
            elif how == "hex":
                value = random.token_hex(32)
            else:
                if not sys.stdin.isatty():
                    print(f"secrets: {secret_id} missing; run at a terminal to be asked for it", file=sys.stderr)
                    continue
                value = getpass.getpass(f"{name} (from the provider's console, not echoed): ").strip()
                if not value:
                    print(f"secrets: {secret_id} skipped (empty)", file=sys.stderr)
                    continue
            arn = sm.create_secret(
                Name=secret_id,
                SecretString=value,
                Description=f"TAPD to Tencent Docs ({args.env}): {name}",
            )["ARN"]
            print(f"secrets: {secret_id} created", file=sys.stderr)
        lines.append(f'  "{param}={arn}",')
    print("# For samconfig.toml, [%s.deploy.parameters] parameter_overrides:" % args.env)
    print("\n".join(lines))
    print(
        "secrets: next, `make backup-key ENV=%s` once the stack is deployed (keep the file offline); "
        "the webhook secret for TAPD's event subscription: aws secretsmanager get-secret-value "
        "--secret-id tapd-docs/%s/tapd-webhook-secret --query SecretString --output text" % (args.env, args.env),
        file=sys.stderr,
    )


# --- reading the key back -----------------------------------------------------------------------


def read_arn(sess, arn):
    """The value of a Secrets Manager secret or an SSM parameter, by ARN (as the extension reads it)."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "secretsmanager":
        return sess.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    if service == "ssm":
        name = arn.split(":parameter", 1)[1]
        return sess.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    fail(f"{arn}: not a Secrets Manager or SSM ARN")


def stored_key(sess, stack):
    """(key, where) from the deployed stack: its TokenEncryptionKeyArn, else the functions' environment."""
    cfn = sess.client("cloudformation")
    try:
        desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as e:  # noqa: BLE001 - botocore's ClientError, said plainly
        fail(f"cannot read the stack {stack}: {e}", "deploy first (make deploy ENV=...), or check the region")
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in desc.get("Parameters", [])}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
    arn = params.get("TokenEncryptionKeyArn", "")
    if arn:
        return read_arn(sess, arn).strip(), arn, outputs
    # A NoEcho parameter reads back masked: the functions' environment holds it.
    fn = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="TapdWebhookFunction")
    name = fn["StackResourceDetail"]["PhysicalResourceId"]
    env = sess.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    key = env.get("TOKEN_ENCRYPTION_KEY", "")
    if not key:
        fail(f"the function {name} has no TOKEN_ENCRYPTION_KEY")
    return key.strip(), f"the environment of {name}", outputs


def gpg_passphrase():
    """gpg asks for the passphrase (pinentry); BACKUP_PASSPHRASE_FILE gives it instead (a pipeline)."""
    path = os.environ.get("BACKUP_PASSPHRASE_FILE")
    if not path:
        return []
    return ["--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase-file", path]


def fingerprint(key):
    """A short name of the key's value (safe to print: a hash, not the key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def cmd_backup_key(args):
    doc = load_samconfig(args.samconfig)
    sess = session(doc, args.env)
    stack = stack_name(doc, args.env)
    key, where, _ = stored_key(sess, stack)
    today = datetime.date.today().strftime("%Y%m%d")
    out = args.out or f"token-key-{args.env}-{today}.{'key' if args.plain else 'asc'}"
    if os.path.exists(out):
        fail(f"{out} exists: not overwritten", "pass OUT=another-file")
    if args.plain:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
    else:
        cmd = ["gpg", "--symmetric", "--armor", "--cipher-algo", "AES256", "--output", out] + gpg_passphrase()
        try:
            r = subprocess.run(cmd, input=(key + "\n").encode())
        except FileNotFoundError:
            fail("gpg is not installed", "install it (make doctor says how), or BACKUP_PLAIN=1 for a plain file")
        if r.returncode != 0:
            fail("gpg failed: no backup written")
    print(f"backup-key: the key of {stack} (read from {where}), fingerprint {fingerprint(key)}, written to {out}")
    print(f"backup-key: keep {out} offline (and its passphrase apart); prove it: make verify-backup ENV={args.env} FILE={out}")


def cmd_verify_backup(args):
    doc = load_samconfig(args.samconfig)
    sess = session(doc, args.env)
    stack = stack_name(doc, args.env)
    cfn = sess.client("cloudformation")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    table = outputs.get("TableName")
    if not table:
        fail(f"the stack {stack} has no TableName output")
    with open(args.file, "rb") as f:
        raw = f.read()
    if b"-----BEGIN PGP MESSAGE-----" in raw or args.file.endswith((".asc", ".gpg")):
        r = subprocess.run(["gpg", "--quiet", "--decrypt"] + gpg_passphrase() + [args.file], stdout=subprocess.PIPE)
        if r.returncode != 0:
            fail("gpg could not decrypt the backup")
        raw = r.stdout
    cmd = [args.tapdocs, "--table", table, "--region", sess.region_name, "check-key", "--key-file", "-"]
    if sess.profile_name and sess.profile_name != "default":
        cmd[1:1] = ["--profile", sess.profile_name]
    r = subprocess.run(cmd, input=raw)
    sys.exit(r.returncode)


def cmd_overrides(args):
    doc = load_samconfig(args.samconfig)
    envs = [k for k, v in doc.items() if isinstance(v, dict) and "deploy" in v]
    print(json.dumps({env: overrides_of(doc, env) for env in envs}, indent=1, sort_keys=True))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("init", "backup-key", "verify-backup"):
        s = sub.add_parser(name)
        s.add_argument("--env", default="default")
        s.add_argument("--samconfig", default="samconfig.toml")
        if name == "backup-key":
            s.add_argument("--out")
            s.add_argument("--plain", action="store_true")
        if name == "verify-backup":
            s.add_argument("--file", required=True)
            s.add_argument("--tapdocs", default="tapdocs")
    s = sub.add_parser("overrides")
    s.add_argument("--samconfig", required=True)
    args = p.parse_args()
    {
        "init": cmd_init,
        "backup-key": cmd_backup_key,
        "verify-backup": cmd_verify_backup,
        "overrides": cmd_overrides,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
