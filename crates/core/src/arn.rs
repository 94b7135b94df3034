/// `arn:aws:<service>:<region>:<account>:<resource>`; region empty for global services.
pub fn build(service: &str, region: &str, account: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{region}:{account}:{resource}")
}

/// The ARN of an account's root user, as STS reports it.
pub fn account_root(account: &str) -> String {
    build("iam", "", account, "root")
}
