"""Images (found the way Terraform's `data "aws_ami"` finds them) and key pairs."""

import base64
import hashlib
import shutil
import subprocess

import pytest

from support import describe_instances, raises_aws, unique, wait_for_state

CANONICAL = "099720109477"
MISSING_IMAGE = "ami-0123456789abcdef0"


def newest(images):
    return max(images, key=lambda i: i["CreationDate"])


def name_filter(pattern):
    return [{"Name": "name", "Values": [pattern]}]


# Images.


def test_amazon_linux_2023_lookup_like_terraform_most_recent(ec2):
    images = ec2.describe_images(Owners=["amazon"], Filters=name_filter("al2023-ami-*"))["Images"]

    assert images
    image = newest(images)
    assert image["ImageId"].startswith("ami-")
    assert image["Name"].startswith("al2023-ami-")
    assert image["State"] == "available"
    assert "x86_64" in {i["Architecture"] for i in images}
    for found in images:
        assert found["Name"].startswith("al2023-ami-")


def test_terraform_style_filters_on_architecture_and_virtualization(ec2):
    images = ec2.describe_images(Owners=["amazon"], Filters=name_filter("al2023-ami-*") + [
        {"Name": "architecture", "Values": ["x86_64"]},
        {"Name": "virtualization-type", "Values": ["hvm"]},
        {"Name": "root-device-type", "Values": ["ebs"]},
    ])["Images"]

    assert images
    for image in images:
        assert image["Architecture"] == "x86_64"
        assert image["VirtualizationType"] == "hvm"
        assert image["RootDeviceType"] == "ebs"


def test_ubuntu_lookup_by_canonical_owner_id(ec2):
    images = ec2.describe_images(Owners=[CANONICAL], Filters=name_filter("ubuntu/images/*"))[
        "Images"]

    assert images
    image = newest(images)
    assert image["OwnerId"] == CANONICAL
    assert image["Name"].startswith("ubuntu/images/")


def test_owner_filter_excludes_other_owners_images(ec2):
    assert ec2.describe_images(Owners=["amazon"], Filters=name_filter("ubuntu/images/*"))[
        "Images"] == []
    assert ec2.describe_images(Owners=[CANONICAL], Filters=name_filter("al2023-ami-*"))[
        "Images"] == []


def test_describe_image_by_id(ec2, ami):
    [image] = ec2.describe_images(ImageIds=[ami])["Images"]

    assert image["ImageId"] == ami
    assert image["Name"].startswith("al2023-ami-")


def test_describe_unknown_image_is_ami_not_found(ec2):
    with raises_aws("InvalidAMIID.NotFound"):
        ec2.describe_images(ImageIds=[MISSING_IMAGE])


def test_web_demo_image_exists_and_runs(ec2):
    images = ec2.describe_images(Filters=name_filter("*fogbank-web*"))["Images"]

    assert images, "no image named like *fogbank-web*"
    image_id = images[0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1)["Instances"]
    [running] = wait_for_state(ec2, instance["InstanceId"], "running")
    assert running["ImageId"] == image_id
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_unknown_image_runs_the_default_image_without_strict_amis(ec2):
    [instance] = ec2.run_instances(ImageId=MISSING_IMAGE, InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1)["Instances"]

    wait_for_state(ec2, instance["InstanceId"], "running")
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_strict_amis_rejects_unknown_images_but_runs_known_ones(start_fogbank):
    server = start_fogbank("--strict-amis")
    ec2 = server.client("ec2")
    known = newest(ec2.describe_images(
        Owners=["amazon"], Filters=name_filter("al2023-ami-*"))["Images"])["ImageId"]

    with raises_aws("InvalidAMIID.NotFound"):
        ec2.run_instances(ImageId=MISSING_IMAGE, InstanceType="t3.micro",
                          MinCount=1, MaxCount=1)

    assert describe_instances(ec2) == []
    [instance] = ec2.run_instances(ImageId=known, InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1)["Instances"]
    wait_for_state(ec2, instance["InstanceId"], "running")


# Key pairs.


def ssh_keygen():
    path = shutil.which("ssh-keygen")
    if path is None:
        pytest.skip("ssh-keygen is not installed; it is needed to make and check OpenSSH keys")
    return path


def public_key_from_private(tmp_path, key_material):
    """Ask ssh-keygen for the public half, which proves the private key is real."""
    key_file = tmp_path / "private.key"
    key_file.write_text(key_material)
    key_file.chmod(0o600)
    completed = subprocess.run([ssh_keygen(), "-y", "-f", str(key_file)],
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, f"ssh-keygen rejected the key: {completed.stderr}"
    return completed.stdout.strip()


def test_create_rsa_key_pair(ec2, tmp_path):
    name = unique("key")

    created = ec2.create_key_pair(KeyName=name)

    assert created["KeyName"] == name
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert created["KeyFingerprint"]
    assert created["KeyPairId"].startswith("key-")
    assert public_key_from_private(tmp_path, created["KeyMaterial"]).startswith("ssh-rsa ")
    [described] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert described["KeyFingerprint"] == created["KeyFingerprint"]
    assert described["KeyPairId"] == created["KeyPairId"]
    assert described["KeyType"] == "rsa"


def test_created_rsa_fingerprint_is_sha1_of_the_pkcs8_private_key(ec2, tmp_path):
    # The check AWS documents: openssl pkcs8 -topk8 -nocrypt -outform DER | sha1.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed; it is needed to re-encode the private key")
    created = ec2.create_key_pair(KeyName=unique("key"))
    key_file = tmp_path / "private.pem"
    key_file.write_text(created["KeyMaterial"])

    der = subprocess.run(
        [openssl, "pkcs8", "-topk8", "-nocrypt", "-inform", "PEM", "-outform", "DER",
         "-in", str(key_file)], capture_output=True, check=True, timeout=30).stdout

    digest = hashlib.sha1(der).hexdigest()
    expected = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    assert created["KeyFingerprint"] == expected


def test_create_ed25519_key_pair(ec2, tmp_path):
    name = unique("key")

    created = ec2.create_key_pair(KeyName=name, KeyType="ed25519")

    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    public_key = public_key_from_private(tmp_path, created["KeyMaterial"])
    assert public_key.startswith("ssh-ed25519 ")
    assert_sha256_fingerprint(created["KeyFingerprint"], public_key)
    [described] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert described["KeyType"] == "ed25519"
    assert described["KeyFingerprint"] == created["KeyFingerprint"]


def assert_sha256_fingerprint(fingerprint, public_key):
    """AWS gives ED25519 keys the base64 SHA-256 of the key blob, as `ssh-keygen -l`
    does (compared here without padding or a "SHA256:" prefix)."""
    blob = base64.b64decode(public_key.split()[1])
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert fingerprint.removeprefix("SHA256:").rstrip("=") == expected


def test_duplicate_key_pair_is_invalid_key_pair_duplicate(ec2):
    name = unique("key")
    ec2.create_key_pair(KeyName=name)

    with raises_aws("InvalidKeyPair.Duplicate"):
        ec2.create_key_pair(KeyName=name)


def test_describe_unknown_key_pair_is_not_found(ec2):
    with raises_aws("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyNames=[unique("missing")])


def test_deleted_key_pair_is_not_found(ec2):
    name = unique("key")
    ec2.create_key_pair(KeyName=name)

    ec2.delete_key_pair(KeyName=name)

    with raises_aws("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyNames=[name])


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_import_openssh_public_key(ec2, tmp_path, key_type):
    key_file = tmp_path / f"id_{key_type}"
    command = [ssh_keygen(), "-q", "-t", key_type, "-N", "", "-C", "e2e", "-f", str(key_file)]
    if key_type == "rsa":
        command[4:4] = ["-b", "2048"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    public_key = (tmp_path / f"id_{key_type}.pub").read_text()
    name = unique("imported")

    imported = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode())

    assert imported["KeyName"] == name
    assert imported["KeyFingerprint"]
    assert imported["KeyPairId"].startswith("key-")
    [described] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert described["KeyType"] == key_type
    assert described["KeyFingerprint"] == imported["KeyFingerprint"]
    if key_type == "ed25519":
        assert_sha256_fingerprint(imported["KeyFingerprint"], public_key)


def test_import_garbage_is_invalid_key_format(ec2):
    with raises_aws("InvalidKey.Format"):
        ec2.import_key_pair(KeyName=unique("bad"), PublicKeyMaterial=b"this is not a key")
