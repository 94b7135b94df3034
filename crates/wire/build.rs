//! Turns the vendored botocore models (`models/<service>/<version>/service-2.json.gz`) into
//! compact JSON without documentation, embedded in the binary. Parsing the originals (about
//! 12 MB of JSON, most of it prose) at every start would cost far more than the stripped form.

use std::io::Read;
use std::path::{Path, PathBuf};

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in ["documentation", "documentationUrl", "deprecatedMessage", "examples"] {
                map.remove(key);
            }
            for v in map.values_mut() {
                strip(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

fn main() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    println!("cargo:rerun-if-changed={}", models.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut services: Vec<(String, PathBuf)> = Vec::new();
    let mut metas: Vec<String> = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&models).expect("models dir").flatten().collect();
    dirs.sort_by_key(|d| d.file_name());
    for entry in dirs {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut versions: Vec<_> = std::fs::read_dir(entry.path()).expect("service dir").flatten().collect();
        versions.sort_by_key(|d| d.file_name());
        let Some(latest) = versions.last() else { continue };
        let source = latest.path().join("service-2.json.gz");
        println!("cargo:rerun-if-changed={}", source.display());
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&source).expect("open model"))
            .read_to_string(&mut text)
            .expect("gunzip model");
        let mut model: serde_json::Value = serde_json::from_str(&text).expect("model json");
        strip(&mut model);
        let meta = &model["metadata"];
        let text_of = |k: &str| meta[k].as_str().map(str::to_string);
        let protocol = meta["protocols"][0].as_str().or(meta["protocol"].as_str()).unwrap_or("").to_string();
        metas.push(format!(
            "    ServiceMeta {{ name: {name:?}, signing_name: {:?}, target_prefix: {:?}, protocol: {protocol:?}, api_version: {:?} }},\n",
            text_of("signingName").or(text_of("endpointPrefix")).unwrap_or_default(),
            text_of("targetPrefix").unwrap_or_default(),
            text_of("apiVersion").unwrap_or_default(),
        ));
        let target = out.join(format!("{name}.json"));
        std::fs::write(&target, serde_json::to_vec(&model).expect("serialize")).expect("write");
        services.push((name, target));
    }
    let mut table = String::from("/// Every vendored model: (botocore service name, stripped model JSON).\npub static MODELS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &services {
        table.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    table.push_str("];\n");
    table.push_str("/// What routing needs of every model, known without parsing the models.\npub static METAS: &[ServiceMeta] = &[\n");
    for m in &metas {
        table.push_str(m);
    }
    table.push_str("];\n");
    std::fs::write(out.join("models.rs"), table).expect("write table");
}
