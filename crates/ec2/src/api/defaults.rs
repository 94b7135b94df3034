//! What a new AWS account has in every region: a default VPC (172.31.0.0/16) with a default
//! subnet per zone, an attached internet gateway, a main route table routing 0.0.0.0/0 to it,
//! a default security group and a default network ACL. Made on the first request that touches
//! a scope, inside one transaction.

use fogbank_core::{regions, Context};
use fogbank_state::{Store, Tx};
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{internet_gateway, kind, route_table, subnet, vpc, Env, InputExt};
use crate::net::Cidr;
use crate::Options;

const MARKER: &str = "ec2-defaults";

/// Makes the scope's defaults unless they exist.
pub fn ensure(store: &Store, ctx: &Context) -> Result<(), AwsError> {
    let options = Options::default();
    let env = Env { store, options: &options, ctx, network: None };
    let scope = env.scope();
    if store.get(&scope, kind::SCOPE, MARKER).is_some() {
        return Ok(());
    }
    if regions::find(&ctx.region).is_none() {
        return Ok(()); // unknown regions get no defaults; their zones list is empty too
    }
    env.write(|tx| {
        if tx.get(&scope, kind::SCOPE, MARKER).is_some() {
            return Ok(());
        }
        let vpc_cidr = Cidr::parse("172.31.0.0/16").expect("literal");
        let vpc = vpc::create_in_tx(tx, &env, vpc_cidr, "default", vec![], true);
        let vpc_id = vpc.str("VpcId").unwrap_or_default().to_string();
        for (i, zone) in regions::zones(&ctx.region).iter().enumerate() {
            let cidr = Cidr { base: vpc_cidr.base + ((i as u32) << 12), prefix: 20 };
            subnet::create_in_tx(tx, &env, &vpc_id, cidr, (&zone.0, &zone.1), true, vec![]);
        }
        let igw = internet_gateway::create_in_tx(tx, &env, vec![]);
        let igw_id = igw.str("InternetGatewayId").unwrap_or_default().to_string();
        internet_gateway::attach_in_tx(tx, &env, &igw_id, &vpc_id);
        route_table::add_route_to_main_in_tx(tx, &env, &vpc_id, "0.0.0.0/0", json!({"GatewayId": igw_id}));
        tx.put(&scope, kind::SCOPE, MARKER, json!({"DefaultVpcId": vpc_id}));
        Ok(())
    })
}

/// The scope's default DHCP options set, made on first use.
pub fn dhcp_options_id(tx: &mut Tx, env: &Env) -> String {
    let scope = env.scope();
    if let Some((id, _)) = tx.list(&scope, kind::DHCP_OPTIONS).find(|(_, d)| super::fb(d).bool("Default") == Some(true)) {
        return id.to_string();
    }
    let id = fogbank_core::ids::resource_id("dopt");
    let domain = if env.ctx.region == "us-east-1" { "ec2.internal".to_string() } else { format!("{}.compute.internal", env.ctx.region) };
    let doc: Value = json!({
        "DhcpOptionsId": id,
        "OwnerId": env.ctx.account,
        "DhcpConfigurations": [
            {"Key": "domain-name", "Values": [{"Value": domain}]},
            {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]},
        ],
        "Tags": [],
        "_fb": {"Default": true},
    });
    tx.put(&scope, kind::DHCP_OPTIONS, &id, doc);
    id
}

/// The id of the scope's default VPC, if it still exists.
pub fn default_vpc_id(store: &Store, env: &Env) -> Option<String> {
    let marker = store.get(&env.scope(), kind::SCOPE, MARKER)?;
    let id = marker.str("DefaultVpcId")?.to_string();
    store.get(&env.scope(), kind::VPC, &id).map(|_| id)
}
