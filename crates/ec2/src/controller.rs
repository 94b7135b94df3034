//! The instance controller: moves every instance from the transitional state its last API
//! call left it in (`pending`, `stopping`, `shutting-down`) to the state the substrate has
//! reached, and forgets terminated instances after the retention time.
//!
//! On the records substrate there is no host to wait for: a transition completes
//! [`TRANSITION`] after it was asked for, so that clients see the states AWS shows.

use std::sync::Arc;
use std::time::Duration;

use fogbank_core::Controller;
use fogbank_state::{Scope, Store};
use fogbank_wire::time;
use serde_json::{json, Value};

use crate::api::instance::{state, state_name, state_value};
use crate::api::{fb, kind, InputExt};

/// How long a records-substrate transition takes.
const TRANSITION: i64 = 200;

/// What the controller will do to one instance.
#[derive(Debug, PartialEq)]
enum Step {
    Boot,
    Stop,
    Terminate,
    Reboot,
    Forget,
}

pub struct InstanceController {
    store: Arc<Store>,
    /// How long terminated instances stay visible (AWS: about an hour).
    retention_ms: i64,
}

impl InstanceController {
    pub fn new(store: Arc<Store>) -> Self {
        let retention_secs = std::env::var("FOGBANK_TERMINATED_RETENTION_SECS")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(3600);
        InstanceController { store, retention_ms: retention_secs * 1000 }
    }

    /// The step an instance needs now, or how long until it will need one.
    fn plan(&self, doc: &Value, now: i64) -> (Option<Step>, Option<i64>) {
        let f = fb(doc);
        let since = f.int("Since").unwrap_or(0);
        let due = since + TRANSITION;
        let wait = |step: Step| if now >= due { (Some(step), None) } else { (None, Some(due - now)) };
        match (state_name(doc), f.str("Desired").unwrap_or("")) {
            ("pending", "running") => wait(Step::Boot),
            ("stopping", "stopped") => wait(Step::Stop),
            ("shutting-down", "terminated") => wait(Step::Terminate),
            ("running", _) if f.get("RebootRequested").is_some_and(|v| !v.is_null()) => (Some(Step::Reboot), None),
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
        let result = self.store.write(|tx| -> Result<(), fogbank_state::StoreError> {
            for (id, step) in &steps {
                if *step == Step::Forget {
                    tx.delete(scope, kind::INSTANCE, id);
                    continue;
                }
                let Some(doc) = tx.get_mut(scope, kind::INSTANCE, id) else { continue };
                apply(doc, step, now);
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "instance controller could not save its progress");
        }
        soonest
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

fn apply(doc: &mut Value, step: &Step, now: i64) {
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
            console(doc, format!("fogbank: {id} started (records substrate: no host runs; user data is kept, not run)"));
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
        for scope in self.store.scopes_with(kind::INSTANCE) {
            if let Some(w) = self.reconcile_scope(&scope, now) {
                soonest = Some(soonest.map_or(w, |s| s.min(w)));
            }
        }
        Duration::from_millis(soonest.unwrap_or(5_000).clamp(10, 5_000) as u64)
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
        let c = InstanceController { store: Arc::new(Store::open(None).unwrap()), retention_ms: 1000 };
        assert_eq!(c.plan(&doc(state::PENDING, "running", 0), 50), (None, Some(150)));
        assert_eq!(c.plan(&doc(state::PENDING, "running", 0), 250).0, Some(Step::Boot));
        assert_eq!(c.plan(&doc(state::STOPPING, "stopped", 0), 250).0, Some(Step::Stop));
        assert_eq!(c.plan(&doc(state::RUNNING, "running", 0), 250), (None, None));
        let mut d = doc(state::SHUTTING_DOWN, "terminated", 0);
        apply(&mut d, &Step::Terminate, 300);
        assert_eq!(state_name(&d), "terminated");
        assert_eq!(c.plan(&d, 500), (None, Some(800)));
        assert_eq!(c.plan(&d, 1300).0, Some(Step::Forget));
    }
}
