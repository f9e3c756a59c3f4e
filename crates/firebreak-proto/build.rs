//! Generates the firebreak.v1 types and stubs with a vendored protoc, so a fresh machine
//! needs no system protobuf compiler.

use std::path::PathBuf;

#[allow(clippy::disallowed_methods)] // build scripts may set PROTOC for tonic-prost-build
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files: Vec<PathBuf> = std::fs::read_dir(proto_root.join("firebreak/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: a build script is single-threaded; nothing else reads the environment
    // while we set it.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", &protoc);
    }
    let include = protoc_bin_vendored::include_path()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("firebreak_descriptor.bin"))
        .compile_protos(&files, &[proto_root.clone(), include])?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
