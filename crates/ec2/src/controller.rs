//! The instance controller: moves every instance from the transitional state its last API
//! call left it in (`pending`, `stopping`, `shutting-down`) to the state the substrate has
//! reached, and forgets terminated instances after the retention time.
//!
//! On the records substrate there is no host to wait for: a transition completes
//! [`TRANSITION`] after it was asked for, so that clients see the states AWS shows. On the
//! network substrate a transition completes when the host has really done it (booted, killed,
//! removed), and a `running` instance whose host is gone (after a restart of Fogbank) is
//! booted again with the same addresses and disk.

use std::sync::Arc;
use std::time::Duration;

use fogbank_core::Controller;
use fogbank_state::{Scope, Store};
use fogbank_wire::time;
use serde_json::{json, Value};

use crate::api::instance::{state, state_name, state_value};
use crate::api::{fb, kind, InputExt};
use crate::host::Network;

/// How long a records-substrate transition takes.
const TRANSITION: i64 = 200;

/// What the controller will do to one instance.
#[derive(Debug, PartialEq)]
enum Step {
    Boot,
    Stop,
    Terminate,
    Reboot,
    /// Running in the store but not on the host: boot it again.
    Revive,
    Forget,
}

pub struct InstanceController {
    store: Arc<Store>,
    network: Option<Arc<Network>>,
    /// How long terminated instances stay visible (AWS: about an hour).
    retention_ms: i64,
}

impl InstanceController {
    pub fn new(store: Arc<Store>, network: Option<Arc<Network>>) -> Self {
        let retention_secs = std::env::var("FOGBANK_TERMINATED_RETENTION_SECS")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(3600);
        InstanceController { store, network, retention_ms: retention_secs * 1000 }
    }

    /// The step an instance needs now, or how long until it will need one.
    fn plan(&self, doc: &Value, now: i64) -> (Option<Step>, Option<i64>) {
        let f = fb(doc);
        let since = f.int("Since").unwrap_or(0);
        let due = since + TRANSITION;
        // Real hosts take the time they take; records wait TRANSITION to look like AWS.
        let real = self.network.is_some();
        let wait = |step: Step| if real || now >= due { (Some(step), None) } else { (None, Some(due - now)) };
        match (state_name(doc), f.str("Desired").unwrap_or("")) {
            ("pending", "running") => wait(Step::Boot),
            ("stopping", "stopped") => wait(Step::Stop),
            ("shutting-down", "terminated") => wait(Step::Terminate),
            ("running", _) if f.get("RebootRequested").is_some_and(|v| !v.is_null()) => (Some(Step::Reboot), None),
            ("running", _) if self.network.as_ref().is_some_and(|n| {
                !n.substrate().is_running(doc.str("InstanceId").unwrap_or_default())
            }) =>
            {
                (Some(Step::Revive), None)
            }
            ("terminated", _) => {
                let gone = f.int("TerminatedAt").unwrap_or(now) + self.retention_ms;
                if now >= gone { (Some(Step::Forget), None) } else { (None, Some(gone - now)) }
            }
            _ => (None, None),
        }
    }

    fn reconcile_scope(&self, scope: &Scope, now: i64) -> Option<i64> {
        let mut soonest: Option<i64> = None;
        let steps: Vec<(String, Step)> = self.store.scan(scope, kind::INSTANCE, |iter| {
            iter.filter_map(|(id, doc)| {
                let (step, wait) = self.plan(doc, now);
                if let Some(w) = wait {
                    soonest = Some(soonest.map_or(w, |s: i64| s.min(w)));
                }
                step.map(|s| (id.to_string(), s))
            })
            .collect()
        });
        if steps.is_empty() {
            return soonest;
        }
        for (id, step) in &steps {
            // The host first (outside the store's lock), then the record of what happened.
            if let Some(network) = &self.network {
                let Some(doc) = self.store.get(scope, kind::INSTANCE, id) else { continue };
                if let Err(e) = act(network, scope, &doc, step) {
                    tracing::error!(instance = %id, step = ?step, error = %e, "the host could not do it; will retry");
                    soonest = Some(soonest.map_or(1000, |s: i64| s.min(1000)));
                    continue;
                }
            }
            let result = self.store.write(|tx| -> Result<(), fogbank_state::StoreError> {
                if *step == Step::Forget {
                    tx.delete(scope, kind::INSTANCE, id);
                } else if let Some(doc) = tx.get_mut(scope, kind::INSTANCE, id) {
                    // Only if nothing changed the instance's state meanwhile.
                    apply(doc, step, now, self.network.is_some());
                }
                Ok(())
            });
            if let Err(e) = result {
                tracing::error!(error = %e, "instance controller could not save its progress");
            }
        }
        soonest
    }
}

/// Does a step on the host.
fn act(network: &Network, scope: &Scope, doc: &Value, step: &Step) -> Result<(), String> {
    if network.is_closed() {
        return Err("Fogbank is shutting down".into());
    }
    let id = doc.str("InstanceId").unwrap_or_default();
    let substrate = network.substrate();
    match step {
        Step::Boot | Step::Revive | Step::Reboot => {
            network.ensure_vpc_of(doc);
            if *step == Step::Reboot {
                substrate.stop_instance(id).map_err(|e| e.to_string())?;
            }
            let spec = network.instance_spec(scope, doc).ok_or("the instance's subnet or address is gone")?;
            substrate.ensure_instance(&spec).map_err(|e| e.to_string())?;
            Ok(())
        }
        Step::Stop => substrate.stop_instance(id).map_err(|e| e.to_string()),
        Step::Terminate => substrate.terminate_instance(id).map_err(|e| e.to_string()),
        Step::Forget => Ok(()),
    }
}

fn console(doc: &mut Value, line: String) {
    let stamp = time::iso_from_millis(time::now_millis());
    if !doc["_fb"]["Console"].is_array() {
        doc["_fb"]["Console"] = json!([]);
    }
    if let Some(lines) = doc["_fb"]["Console"].as_array_mut() {
        lines.push(json!(format!("[{stamp}] {line}")));
        if lines.len() > 200 {
            lines.drain(..lines.len() - 200);
        }
    }
}

fn apply(doc: &mut Value, step: &Step, now: i64, real: bool) {
    let id = doc.str("InstanceId").unwrap_or_default().to_string();
    match step {
        Step::Boot => {
            doc["State"] = state_value(state::RUNNING);
            doc["MetadataOptions"]["State"] = json!("applied");
            if let Some(enis) = doc["NetworkInterfaces"].as_array_mut() {
                for eni in enis {
                    eni["Attachment"]["Status"] = json!("attached");
                }
            }
            if !real {
                console(doc, format!("fogbank: {id} started (records substrate: no host runs; user data is kept, not run)"));
            }
        }
        Step::Stop => {
            doc["State"] = state_value(state::STOPPED);
            console(doc, format!("fogbank: {id} stopped"));
        }
        Step::Terminate => {
            doc["State"] = state_value(state::TERMINATED);
            doc["_fb"]["TerminatedAt"] = json!(now);
            // A terminated instance has given its interface and addresses back.
            if let Some(o) = doc.as_object_mut() {
                for member in ["PrivateIpAddress", "PublicIpAddress", "SubnetId", "VpcId"] {
                    o.remove(member);
                }
                o.insert("NetworkInterfaces".into(), json!([]));
                o.insert("PrivateDnsName".into(), json!(""));
                o.insert("PublicDnsName".into(), json!(""));
            }
            console(doc, format!("fogbank: {id} terminated"));
        }
        Step::Reboot => {
            doc["_fb"]["RebootRequested"] = Value::Null;
            console(doc, format!("fogbank: {id} rebooted"));
        }
        Step::Revive => console(doc, format!("fogbank: {id} booted again (its host was gone)")),
        Step::Forget => {}
    }
}

impl Controller for InstanceController {
    fn name(&self) -> &'static str {
        "instances"
    }

    fn reconcile(&self) -> Duration {
        let now = time::now_millis();
        let mut soonest: Option<i64> = None;
        if let Some(n) = &self.network {
            n.reconcile_vpcs();
        }
        for scope in self.store.scopes_with(kind::INSTANCE) {
            if let Some(w) = self.reconcile_scope(&scope, now) {
                soonest = Some(soonest.map_or(w, |s| s.min(w)));
            }
        }
        if let Some(n) = &self.network {
            // Group membership and VPCs follow the states just reached.
            n.reconcile_vpcs();
        }
        // With real hosts, look again every second: a host can die on its own.
        let idle = if self.network.is_some() { 1_000 } else { 5_000 };
        Duration::from_millis(soonest.unwrap_or(idle).clamp(10, idle) as u64)
    }

    fn shutdown(&self) {
        if let Some(n) = &self.network {
            n.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(state: (i64, &str), desired: &str, since: i64) -> Value {
        json!({"InstanceId": "i-1", "State": state_value(state), "_fb": {"Desired": desired, "Since": since}})
    }

    #[test]
    fn transitions_wait_then_happen() {
        let c = InstanceController { store: Arc::new(Store::open(None).unwrap()), network: None, retention_ms: 1000 };
        assert_eq!(c.plan(&doc(state::PENDING, "running", 0), 50), (None, Some(150)));
        assert_eq!(c.plan(&doc(state::PENDING, "running", 0), 250).0, Some(Step::Boot));
        assert_eq!(c.plan(&doc(state::STOPPING, "stopped", 0), 250).0, Some(Step::Stop));
        assert_eq!(c.plan(&doc(state::RUNNING, "running", 0), 250), (None, None));
        let mut d = doc(state::SHUTTING_DOWN, "terminated", 0);
        apply(&mut d, &Step::Terminate, 300, false);
        assert_eq!(state_name(&d), "terminated");
        assert_eq!(c.plan(&d, 500), (None, Some(800)));
        assert_eq!(c.plan(&d, 1300).0, Some(Step::Forget));
    }
}
