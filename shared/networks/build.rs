//! `apis.toml` is embedded as JSON: the binaries parse it with serde_json, which they link
//! anyway, instead of linking a TOML parser for one file read at init.

fn main() {
    let source = "apis.toml";
    println!("cargo::rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("read apis.toml");
    let data: serde_json::Value =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{source} is not TOML: {e}"));
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("apis.json");
    std::fs::write(out, data.to_string()).expect("write apis.json");
}
