/// A region and the zone-id prefix AWS uses for it (`use1-az1`).
pub struct Region {
    pub name: &'static str,
    pub zone_id_prefix: &'static str,
    pub endpoint_name: &'static str,
}

/// The regions Fogbank answers for, each with zones `a`, `b` and `c`.
pub const REGIONS: &[Region] = &[
    Region { name: "us-east-1", zone_id_prefix: "use1", endpoint_name: "US East (N. Virginia)" },
    Region { name: "us-east-2", zone_id_prefix: "use2", endpoint_name: "US East (Ohio)" },
    Region { name: "us-west-2", zone_id_prefix: "usw2", endpoint_name: "US West (Oregon)" },
    Region { name: "eu-west-1", zone_id_prefix: "euw1", endpoint_name: "Europe (Ireland)" },
    Region { name: "eu-central-1", zone_id_prefix: "euc1", endpoint_name: "Europe (Frankfurt)" },
    Region { name: "ap-northeast-1", zone_id_prefix: "apne1", endpoint_name: "Asia Pacific (Tokyo)" },
];

/// Zone letters of every region.
pub const ZONE_LETTERS: &[char] = &['a', 'b', 'c'];

pub fn find(name: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.name == name)
}

/// `(zone name, zone id)` of every zone in `region`.
pub fn zones(region: &str) -> Vec<(String, String)> {
    let Some(r) = find(region) else { return vec![] };
    ZONE_LETTERS
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("{}{l}", r.name), format!("{}-az{}", r.zone_id_prefix, i + 1)))
        .collect()
}
